// Cases for ops/matmul: unbatched and batched products with odd M, K, N.
#include "ops/matmul.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> matmul_cases() {
  auto fwd = [](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::matmul(in[0], in[1])}; };
  std::vector<OpCase> cases;
  cases.push_back({"(5,7) x (7,3)", {{{5, 7}}, {{7, 3}}}, fwd});
  cases.push_back({"(2,3,5,7) x (2,3,7,4)", {{{2, 3, 5, 7}}, {{2, 3, 7, 4}}}, fwd});
  return cases;
}
}  // namespace

REGISTER_OP_CASES(matmul, matmul_cases);
