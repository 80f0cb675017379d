// Cases for ops/softmax: odd row lengths and a row length that is a multiple of 32 with odd row count.
#include "ops/softmax.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
std::vector<OpCase> softmax_cases() {
  std::vector<OpCase> cases;
  // Logits in [-3, 3]: rows with clearly unequal probabilities.
  for (Shape s : {Shape{3, 37}, Shape{2, 5, 64}}) {
    cases.push_back({"shape " + shape_str(s), {{s, true, -3, 3}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::softmax(in[0])};
                     }});
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(softmax, softmax_cases);
