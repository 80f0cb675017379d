// Cases for ops/activation: odd sizes so no vector width or block size divides them.
#include "ops/activation.h"
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
