// Cases for ops/linear: 2-D and 4-D inputs, with and without bias; odd K and M; 300 rows, more than one
// 256-row block of the bias gradient's sum (sum_rows_blocked), with a tail.
#include "ops/linear.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> linear_cases() {
  std::vector<OpCase> cases;
  const int64_t K = 7, M = 9;
  for (Shape xs : {Shape{5, K}, Shape{2, 3, 5, K}, Shape{2, 150, K}}) {
    // x, w (M, K), b (M)
    cases.push_back({"x " + shape_str(xs) + " with bias", {{xs}, {{M, K}}, {{M}}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::linear(in[0], in[1], in[2])};
                     }});
    cases.push_back({"x " + shape_str(xs) + " no bias", {{xs}, {{M, K}}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::linear(in[0], in[1], Tensor())};
                     }});
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(linear, linear_cases);
