#include "train/schedule.h"

#include <cmath>

#include "engine/check.h"

namespace engine::train {

std::vector<double> cosine_schedule(const ScheduleConfig& c) {
  USER_CHECK(c.epochs > 0 && c.niter_per_epoch > 0, "schedule: needs epochs > 0 and at least one step per epoch");
  const int64_t total = c.epochs * c.niter_per_epoch;
  const int64_t warmup = c.warmup_steps > 0 ? c.warmup_steps : c.warmup_epochs * c.niter_per_epoch;
  USER_CHECK(warmup >= 0 && warmup < total, "schedule: ", warmup, " warm-up steps leave no step of the ", total,
             " for the cosine (fewer warm-up epochs or more epochs)");
  std::vector<double> v;
  v.reserve(size_t(total));
  // np.linspace(0, base, W): i * (base / (W-1)), the last value exactly base; W = 1 gives [0].
  const double step = warmup > 1 ? c.base / double(warmup - 1) : 0.0;
  for (int64_t i = 0; i < warmup; ++i) v.push_back(i == warmup - 1 && warmup > 1 ? c.base : double(i) * step);
  const int64_t n = total - warmup;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(c.final_value + 0.5 * (c.base - c.final_value) * (1.0 + std::cos(M_PI * double(i) / double(n))));
  return v;
}

}  // namespace engine::train
