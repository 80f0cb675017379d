// Cases for ops/pool: odd spatial and channel sizes, a single position (H = W = 1) and a single frame (W = 1).
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

// Distinct frequency means per frame almost surely (uniform inputs), so the maximum is unique and the
// finite differences do not cross a tie; W = 1 makes the maximum the mean.
REGISTER_OP_CASES(time_max_mean_pool, [] {
  std::vector<OpCase> cases;
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 9}, Shape{2, 4, 1, 3}, Shape{3, 17, 19, 5}}) {
    cases.push_back({"shape " + shape_str(s), {{s, true, -2, 2}}, [](std::vector<Tensor>& in) {
                       return std::vector<Tensor>{ops::time_max_mean_pool(in[0])};
                     }});
  }
  return cases;
});
