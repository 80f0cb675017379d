// Cases for ops/elementwise: odd sizes so no vector width or block size divides them.
#include <catch2/catch.hpp>

#include "ops/elementwise.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> binary_cases(Tensor (*fn)(const Tensor&, const Tensor&)) {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{3, 5, 7}, Shape{2, 3, 5, 67}}) {
    cases.push_back({"shape " + shape_str(s), {{s, true, -2, 2}, {s, true, -2, 2}}, [fn](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{fn(in[0], in[1])};
                     }});
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(add, [] { return binary_cases(ops::add); });
REGISTER_OP_CASES(mul, [] { return binary_cases(ops::mul); });
REGISTER_OP_CASES(scale_channels, [] {
  std::vector<OpCase> cases;
  // gamma around its typical layer-scale range, kept away from 0 so both gradients are exercised.
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{5, 13}, Shape{2, 150, 3}}) {  // 300 rows: two blocks of gamma's sum
    Shape g{s.back()};
    cases.push_back({"shape " + shape_str(s),
                     {{s, true, -2, 2}, {g, true, 0.1, 1.5}},
                     [](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::scale_channels(in[0], in[1])}; }});
  }
  return cases;
});

// Forward values: gamma indexes the last (channel) dimension.
TEST_CASE("scale_channels scales the last dimension", "[elementwise]") {
  Tensor x = Tensor::full({2, 3, 5}, 2.0, DType::f64);          // (N, W, C)
  Tensor g = Tensor::from_vector<double>({1, 2, 3, 4, 5}, {5});  // (C)
  auto y = ops::scale_channels(x, g).to_vector<double>();
  for (size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == 2.0 * double(i % 5 + 1));
  REQUIRE_THROWS_AS(ops::scale_channels(x, Tensor::zeros({3}, DType::f64)), UserError);
  REQUIRE_THROWS_AS(ops::add(x, Tensor::zeros({2, 5, 3}, DType::f64)), UserError);
}
