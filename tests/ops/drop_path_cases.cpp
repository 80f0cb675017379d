// Cases for ops/drop_path. The seed/offset pair keeps samples 0-2, 4, 5 and drops sample 3 of 6 at p = 0.4
// (asserted in tests/test_rng.cpp), so both branches of the mask are checked.
#include "ops/drop_path.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> drop_path_cases() {
  const uint64_t seed = 42;
  const uint64_t offset = 5;
  const Shape s{6, 3, 5};  // (N, W, C)
  std::vector<OpCase> cases;
  auto add = [&](const std::string& label, double p, bool training) {
    cases.push_back({label + " " + shape_str(s), {{s, true, -2, 2}}, [=](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::drop_path(in[0], p, training, seed, offset)};
                     }});
  };
  add("train p=0.4", 0.4, true);
  add("train p=0 (identity)", 0.0, true);
  add("eval p=0.4 (identity)", 0.4, false);
  return cases;
}
}  // namespace

REGISTER_OP_CASES(drop_path, drop_path_cases);
