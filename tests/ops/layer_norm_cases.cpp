// Cases for ops/layer_norm: odd row counts and channel counts (C = 300 > one CUDA block of 256 threads,
// so the strided channel loops and their tails run), affine / weight-only / no parameters, both eps.
#include "ops/layer_norm.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::InputSpec;
using testing::OpCase;

namespace {
enum class Affine { weight_bias, weight_only, none };

// x in [-2, 2], weight around 1, bias small: the ranges of a trained model's norms.
OpCase layer_norm_case(const Shape& s, Affine affine, double eps) {
  const int64_t C = s.back();
  std::vector<InputSpec> inputs = {{s, true, -2, 2}};
  if (affine != Affine::none) inputs.push_back({{C}, true, 0.5, 1.5});
  if (affine == Affine::weight_bias) inputs.push_back({{C}, true, -0.5, 0.5});
  const char* name = affine == Affine::weight_bias ? "w+b" : affine == Affine::weight_only ? "w only" : "no affine";
  return {"shape " + shape_str(s) + " " + name + " eps " + std::to_string(eps), inputs,
          [affine, eps](std::vector<Tensor>& in) {
            Tensor w = affine != Affine::none ? in[1] : Tensor();
            Tensor b = affine == Affine::weight_bias ? in[2] : Tensor();
            return std::vector<Tensor>{ops::layer_norm(in[0], w, b, eps)};
          }};
}
}  // namespace

REGISTER_OP_CASES(layer_norm, [] {
  std::vector<OpCase> cases;
  for (double eps : {1e-6, 1e-5}) {
    for (Affine a : {Affine::weight_bias, Affine::weight_only, Affine::none})
      cases.push_back(layer_norm_case({2, 3, 5, 7}, a, eps));
  }
  OpCase two = layer_norm_case({5, 2}, Affine::weight_bias, 1e-5);
  // Two channels normalise to about +-1 whatever x is: dx is a difference of nearly equal terms, of which f32
  // keeps about 4 digits (1.9e-4 measured against f64).
  two.f32_rtol = 1e-3;
  cases.push_back(two);
  OpCase wide = layer_norm_case({3, 300}, Affine::weight_bias, 1e-6);
  wide.parity_rtol = 3e-5;  // f32 sums over 300 channels
  cases.push_back(wide);
  cases.push_back(layer_norm_case({2, 150, 3}, Affine::weight_bias, 1e-6));  // 300 rows: two blocks of the w/b sums
  return cases;
});
