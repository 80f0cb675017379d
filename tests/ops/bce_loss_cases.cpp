// Cases for ops/bce_loss: soft targets, gradients w.r.t. both logits and targets.
#include "ops/bce_loss.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> bce_cases() {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{3, 7}, Shape{2, 527}}) {
    // logits in [-4, 4], targets in [0.05, 0.95] (soft labels, as with mixup)
    cases.push_back({"shape " + shape_str(s), {{s, true, -4, 4}, {s, true, 0.05, 0.95}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::bce_with_logits(in[0], in[1])};
                     }});
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(bce_with_logits, bce_cases);
