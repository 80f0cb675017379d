// The per-iteration learning-rate schedule of ConvNeXt/DCLS-Audio (utils.cosine_scheduler,
// shared/spec/recipe.md D.5), for iterations 0 .. epochs*niter_per_epoch - 1:
//   W = warmup_steps if warmup_steps > 0 else warmup_epochs * niter_per_epoch
//   i <  W: linspace(0, base, W)[i]                     (ends exactly at base)
//   i >= W: final + 0.5 (base - final) (1 + cos(pi (i - W) / (total - W)))
// (the reference asserts when warmup_steps > 0 but warmup_epochs = 0; here warm-up follows W alone).
#pragma once
#include <cstdint>
#include <vector>

namespace engine::train {

struct ScheduleConfig {
  double base = 4e-3;
  double final_value = 1e-6;
  int64_t epochs = 60;
  int64_t niter_per_epoch = 1;
  int64_t warmup_epochs = 20;
  int64_t warmup_steps = -1;
};

std::vector<double> cosine_schedule(const ScheduleConfig& c);

}  // namespace engine::train
