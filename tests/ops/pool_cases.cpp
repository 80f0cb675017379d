// Cases for ops/pool: odd spatial and channel sizes, and a single position (H = W = 1).
#include "ops/pool.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

REGISTER_OP_CASES(global_avg_pool, [] {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 9}, Shape{3, 17, 19, 5}}) {
    cases.push_back({"shape " + shape_str(s), {{s, true, -2, 2}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::global_avg_pool(in[0])};
                     }});
  }
  return cases;
});
