// Cases for ops/batch_norm: training and eval, with and without the affine parameters, odd sizes, and
// M = N*H*W = 396 > one CUDA block of 256 threads (strided per-channel loops and their tails).
// The running buffers are inputs with grad = false: gradcheck re-runs the forward many times, which in
// training mode updates them each time; the output does not depend on them there, and eval mode reads
// them without changing them, so every run sees the same function of (x, w, b).
#include "ops/batch_norm.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::InputSpec;
using testing::OpCase;

namespace {
// x off-centre in [-1, 3] so the mean matters; weight around 1, small bias; running_var in [0.5, 1.5].
OpCase batch_norm_case(const Shape& s, bool training, bool affine, bool track_count) {
  const int64_t C = s.back();
  std::vector<InputSpec> inputs = {{s, true, -1, 3}, {{C}, false, -0.5, 0.5}, {{C}, false, 0.5, 1.5}};
  if (affine) {
    inputs.push_back({{C}, true, 0.5, 1.5});
    inputs.push_back({{C}, true, -0.5, 0.5});
  }
  std::string label = std::string(training ? "train" : "eval") + " shape " + shape_str(s) +
                      (affine ? " affine" : " no affine") + (track_count ? " counted" : "");
  return {label, inputs, [training, affine, track_count](std::vector<Tensor>& in) {
            Tensor count = track_count ? Tensor::zeros({}, DType::i64, in[0].device()) : Tensor();  // ()
            Tensor w = affine ? in[3] : Tensor();
            Tensor b = affine ? in[4] : Tensor();
            ops::BatchNormParams p;
            p.training = training;
            return std::vector<Tensor>{ops::batch_norm2d(in[0], w, b, in[1], in[2], count, p)};
          }};
}
}  // namespace

REGISTER_OP_CASES(batch_norm2d, [] {
  std::vector<OpCase> cases;
  for (bool training : {true, false}) {
    for (Shape s : {Shape{2, 3, 5, 7}, Shape{3, 1, 9, 5}}) cases.push_back(batch_norm_case(s, training, true, true));
    cases.push_back(batch_norm_case({2, 3, 5, 7}, training, false, false));
    OpCase big = batch_norm_case({4, 9, 11, 3}, training, true, true);
    big.parity_rtol = 3e-5;  // f32 sums over 396 positions per channel
    cases.push_back(big);
  }
  return cases;
});
