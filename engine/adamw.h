// AdamW with torch.optim.AdamW's exact update order (decoupled weight decay), over a ParameterArena:
// one kernel per parameter segment, state (exp_avg, exp_avg_sq) in the arena's state slots 0 and 1.
//   p *= 1 - lr*wd;  m = m + (1-b1)(g - m);  v = b2 v + (1-b2) g^2;
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
#pragma once
#include <functional>
#include <string>

#include "engine/param_arena.h"

namespace engine {

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.05;
};

class AdamW {
 public:
  // `decays(name)` says whether a parameter is in the weight-decay group (the recipe's `decay` group).
  AdamW(ParameterArena& arena, AdamWConfig config, std::function<bool(const std::string&)> decays);
  void step(double lr);
  int64_t steps() const { return step_; }

 private:
  ParameterArena& arena_;
  AdamWConfig config_;
  std::vector<bool> decay_;  // per arena segment
  int64_t step_ = 0;
};

// One AdamW update of n contiguous f32 elements (CPU or CUDA pointers alike via the arena's device).
struct AdamWScalars {
  float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt;
};
#ifdef ENGINE_CUDA
void adamw_update_cuda(float* p, const float* g, float* m, float* v, int64_t n, AdamWScalars s);
#endif

}  // namespace engine
