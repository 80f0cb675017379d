#include "train/optimizer.h"

#include <cmath>

#include "engine/check.h"
#include "train/optimizer_cuda.h"
#include "train/optimizer_math.h"

namespace engine::train {

struct Optimizer::Device {
#ifdef ENGINE_CUDA
  std::unique_ptr<cuda_optim::LambWorkspace> lamb;
#endif
};

Optimizer::Optimizer(ParameterArena& arena, std::vector<ParamGroup> groups, OptimizerConfig config)
    : arena_(arena), groups_(std::move(groups)), config_(config), device_(std::make_unique<Device>()) {
  ENGINE_CHECK(arena.state_slots() >= kStateSlots, "the optimizer needs ", kStateSlots, " arena state slots, got ",
               arena.state_slots());
  ENGINE_CHECK(arena.num_groups() <= int(groups_.size()), "arena has ", arena.num_groups(), " groups, the optimizer ",
               groups_.size());
#ifdef ENGINE_CUDA
  if (config_.kind == OptimizerKind::lamb && arena.device() == engine::Device::CUDA) {
    std::vector<std::vector<cuda_optim::LambTensor>> tensors(size_t(arena.num_groups()));
    for (const ArenaSegment& seg : arena.segments()) tensors[size_t(seg.group)].push_back({seg.offset, seg.numel});
    device_->lamb = std::make_unique<cuda_optim::LambWorkspace>(tensors);
  }
#endif
}

Optimizer::~Optimizer() = default;

namespace {

AdamScalars scalars_for(const OptimizerConfig& c, const ParamGroup& group, double lr, int64_t t) {
  const double bc1 = 1.0 - std::pow(c.beta1, double(t)), bc2 = 1.0 - std::pow(c.beta2, double(t));
  AdamScalars s{};
  s.lr = float(lr);
  s.beta1 = float(c.beta1);
  s.beta2 = float(c.beta2);
  s.one_minus_beta1 = float(1.0 - c.beta1);
  s.one_minus_beta2 = float(1.0 - c.beta2);
  s.eps = float(c.eps);
  s.weight_decay = float(group.weight_decay);
  s.decay_factor = float(1.0 - lr * group.weight_decay);
  s.step_size = float(lr / bc1);
  s.bias_correction1 = float(bc1);
  s.bias_correction2_sqrt = float(std::sqrt(bc2));
  return s;
}

void adamw_range_cpu(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) adamw_element(p[i], g[i], m[i], v[i], s);
}

float lamb_clip_cpu(const float* g, int64_t n, double max_norm) {
  double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (int64_t i = 0; i < n; ++i) sum += double(g[i]) * double(g[i]);
  const float norm = float(std::sqrt(sum));
  return norm > float(max_norm) ? norm / float(max_norm) : 1.f;
}

// One tensor (or, without trust, any range) of a LAMB group.
void lamb_tensor_cpu(float* p, const float* g, float* m, float* v, int64_t n, float clip, const AdamScalars& s,
                     bool trust) {
  if (!trust) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] + (-s.lr) * lamb_moments(p[i], g[i], clip, m[i], v[i], s);
    return;
  }
  double p_sq = 0, u_sq = 0;
#pragma omp parallel for reduction(+ : p_sq, u_sq) schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float u = lamb_moments(p[i], g[i], clip, m[i], v[i], s);
    p_sq += double(p[i]) * double(p[i]);
    u_sq += double(u) * double(u);
  }
  const float ratio = lamb_trust_ratio(float(p_sq), float(u_sq));
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] + (-s.lr) * (lamb_update(p[i], m[i], v[i], s) * ratio);
}

}  // namespace

void Optimizer::step(double lr) {
  ++step_;
  float* p = arena_.values().data<float>();  // (R,)
  float* g = arena_.grads().data<float>();   // (R,)
  float* m = arena_.state(0).data<float>();  // (R,) exp_avg
  float* v = arena_.state(1).data<float>();  // (R,) exp_avg_sq
  const bool cuda = arena_.device() == engine::Device::CUDA;
  float clip = 1.f;
  if (config_.kind == OptimizerKind::lamb) {
    if (cuda) {
#ifdef ENGINE_CUDA
      device_->lamb->compute_clip(g, arena_.region_numel(), float(config_.max_grad_norm));
#endif
    } else {
      clip = lamb_clip_cpu(g, arena_.region_numel(), config_.max_grad_norm);
    }
  }
  for (int gi = 0; gi < arena_.num_groups(); ++gi) {
    const ParamGroup& group = groups_[size_t(gi)];
    const AdamScalars s = scalars_for(config_, group, lr * group.lr_scale, step_);
    const ArenaRange r = arena_.group_range(gi);
    if (r.numel == 0) continue;
    const bool trust = group.weight_decay != 0;
    if (cuda) {
#ifdef ENGINE_CUDA
      if (config_.kind == OptimizerKind::adamw)
        cuda_optim::adamw_range(p + r.offset, g + r.offset, m + r.offset, v + r.offset, r.numel, s);
      else
        device_->lamb->update_group(gi, p, g, m, v, s, trust);
#endif
    } else if (config_.kind == OptimizerKind::adamw) {
      adamw_range_cpu(p + r.offset, g + r.offset, m + r.offset, v + r.offset, r.numel, s);
    } else if (!trust) {
      lamb_tensor_cpu(p + r.offset, g + r.offset, m + r.offset, v + r.offset, r.numel, clip, s, false);
    } else {
      for (const ArenaSegment& seg : arena_.segments())
        if (seg.group == gi)
          lamb_tensor_cpu(p + seg.offset, g + seg.offset, m + seg.offset, v + seg.offset, seg.numel, clip, s, true);
    }
  }
}

void ema_update(ParameterArena& arena, int slot, double decay) {
  float* ema = arena.state(slot).data<float>();  // (R,)
  const float* p = arena.values().data<float>();
  const int64_t n = arena.region_numel();
  if (arena.device() == engine::Device::CUDA) {
#ifdef ENGINE_CUDA
    cuda_optim::ema_range(ema, p, n, float(decay));
#endif
    return;
  }
  const float d = float(decay), one_minus = float(1.0 - decay);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) ema[i] = ema[i] * d + one_minus * p[i];
}

}  // namespace engine::train
