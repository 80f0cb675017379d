// Optimizers over a ParameterArena laid out by parameter group (train/param_groups.h): one fused pass per
// group over its contiguous range of the arena, on the CPU or the GPU (train/optimizer.cu).
//   AdamW  exactly torch.optim.AdamW (decoupled weight decay):
//            p *= 1 - lr wd;  m = lerp(m, g, 1-b1);  v = b2 v + (1-b2) g^2
//            p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
//   LAMB   exactly timm 0.6.13 Lamb (grad averaging, bias correction, no trust clip):
//            g /= max(||G||/max_grad_norm, 1)   G: all gradients of all groups (the global clip)
//            m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//            u = (m/(1-b1^t)) / (sqrt(v)/sqrt(1-b2^t) + eps) + wd p
//            where wd != 0, per tensor: u *= ||p|| / ||u|| (1 when either norm is 0)
//            p -= lr u
// State: arena slots 0 (m, exp_avg) and 1 (v, exp_avg_sq); the step count t is the optimizer's.
// Padding between tensors stays zero under both updates (g = m = v = p = 0 there).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/param_arena.h"
#include "train/param_groups.h"

namespace engine::train {

enum class OptimizerKind { adamw, lamb };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::adamw;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1.0;  // LAMB's built-in global clip
};

class Optimizer {
 public:
  static constexpr int kStateSlots = 2;
  // The arena must have been built with `groups.group_of` and at least kStateSlots state slots.
  Optimizer(ParameterArena& arena, std::vector<ParamGroup> groups, OptimizerConfig config);
  ~Optimizer();

  // One update of every group at learning rate lr * group.lr_scale from the gradients in the arena.
  void step(double lr);
  int64_t steps() const { return step_; }
  void set_steps(int64_t t) { step_ = t; }  // resume
  const std::vector<ParamGroup>& groups() const { return groups_; }

 private:
  struct Device;  // device-side tables and scratch for LAMB's reductions (CUDA only)
  ParameterArena& arena_;
  std::vector<ParamGroup> groups_;
  OptimizerConfig config_;
  int64_t step_ = 0;
  std::unique_ptr<Device> device_;
};

// Exponential moving average of the weights (timm ModelEmaV2): ema = decay ema + (1 - decay) p over the
// values region into state slot `slot`.
void ema_update(ParameterArena& arena, int slot, double decay);

}  // namespace engine::train
