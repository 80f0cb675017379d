// Cases for ops/activation: odd sizes so no vector width or block size divides them.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/autograd.h"
#include "ops/activation.h"
#include "ops/bce_loss.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
// Inputs in [-2, 2]: both sides of the ReLU kink, the curved parts of GELU and sigmoid.
std::vector<OpCase> unary_cases(Tensor (*fn)(const Tensor&)) {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{7}, Shape{3, 5, 11}, Shape{2, 3, 5, 67}}) {
    cases.push_back({"shape " + shape_str(s), {{s, true, -2, 2}}, [fn](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{fn(in[0])};
                     }});
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(relu, [] { return unary_cases(ops::relu); });
REGISTER_OP_CASES(gelu, [] { return unary_cases(ops::gelu); });
REGISTER_OP_CASES(sigmoid, [] { return unary_cases(ops::sigmoid); });
REGISTER_OP_CASES(squared_relu, [] { return unary_cases(ops::squared_relu); });
REGISTER_OP_CASES(star_relu, [] {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{5}, Shape{2, 7, 3, 33}}) {
    cases.push_back({"shape " + shape_str(s),
                     {{s, true, -2, 2}, {{1}, true, 0.5, 1.5}, {{1}, true, -0.5, 0.5}},
                     [](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::star_relu(in[0], in[1], in[2])}; }});
  }
  return cases;
});

// The float path (SIMD loops over 16384-element chunks with libmvec's erff/expf) against the double path
// (scalar libm), forward and gradient, over [-6, 6] on a length that leaves a chunk tail and a vector tail.
TEST_CASE("activation: float SIMD loops agree with the double loops", "[activation]") {
  const int64_t n = 2 * 16384 + 37;
  std::vector<double> xs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) xs[size_t(i)] = -6.0 + 12.0 * double(i) / double(n - 1);
  for (auto [name, fn] : {std::pair{"relu", &ops::relu}, std::pair{"gelu", &ops::gelu},
                          std::pair{"sigmoid", &ops::sigmoid}, std::pair{"squared_relu", &ops::squared_relu}}) {
    INFO(name);
    std::vector<std::vector<double>> y(2), dx(2);
    for (int k = 0; k < 2; ++k) {
      Tensor x = Tensor::from_vector<double>(xs, {n});
      if (k == 1) x = x.to(DType::f32);
      x.set_requires_grad(true);
      Tensor out = fn(x);  // (n)
      // d/dx of sum(out * w) = w * f'(x): a weight per element so that every gradient is tested.
      Tensor w = Tensor::from_vector<double>(std::vector<double>(size_t(n), 0.5), {n}).to(x.dtype());
      autograd::backward({out}, {w});
      y[size_t(k)] = out.to(DType::f64).to_vector<double>();
      dx[size_t(k)] = x.grad().to(DType::f64).to_vector<double>();
    }
    int bad_y = 0, bad_dx = 0;
    for (int64_t i = 0; i < n; ++i) {
      const size_t j = size_t(i);
      bad_y += std::fabs(y[1][j] - y[0][j]) > 1e-6 + 1e-6 * std::fabs(y[0][j]);
      bad_dx += std::fabs(dx[1][j] - dx[0][j]) > 1e-6 + 1e-6 * std::fabs(dx[0][j]);
    }
    CHECK(bad_y == 0);
    CHECK(bad_dx == 0);
  }
}
