// Cases for ops/channel_gate: odd spatial and channel sizes, one position (the SE gate after pooling
// would be H = W = 1), and a channel count past one CUDA channel tile (32).
#include <catch2/catch.hpp>

#include "ops/channel_gate.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

REGISTER_OP_CASES(channel_gate, [] {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 9}, Shape{3, 4, 11, 37}}) {
    // The gate is a sigmoid output in the model: keep it in (0, 1].
    cases.push_back({"shape " + shape_str(s),
                     {{s, true, -2, 2}, {Shape{s[0], s[3]}, true, 0.05, 1.0}},
                     [](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::channel_gate(in[0], in[1])}; }});
  }
  return cases;
});

// Forward values: s[n, c] scales every position of sample n in channel c.
TEST_CASE("channel_gate scales each sample's channels", "[channel_gate]") {
  Tensor x = Tensor::full({2, 2, 3, 2}, 3.0, DType::f64);                // (N, H, W, C)
  Tensor s = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});          // (N, C)
  auto y = ops::channel_gate(x, s).to_vector<double>();
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t n = i / 12, c = i % 2;
    REQUIRE(y[i] == 3.0 * double(n * 2 + c + 1));
  }
  REQUIRE_THROWS_AS(ops::channel_gate(x, Tensor::zeros({2, 3}, DType::f64)), UserError);
  REQUIRE_THROWS_AS(ops::channel_gate(Tensor::zeros({2, 2}, DType::f64), s), UserError);
}
