#include "engine/adamw.h"

#include <cmath>

namespace engine {

namespace {
void adamw_update_cpu(float* p, const float* g, float* m, float* v, int64_t n, const AdamWScalars& s) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    float pi = p[i] * (1.f - s.lr * s.weight_decay);
    float mi = m[i] + (1.f - s.beta1) * (g[i] - m[i]);
    float vi = s.beta2 * v[i] + (1.f - s.beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (s.lr / s.bias_correction1) * mi / (std::sqrt(vi) / s.bias_correction2_sqrt + s.eps);
  }
}
}  // namespace

AdamW::AdamW(ParameterArena& arena, AdamWConfig config, std::function<bool(const std::string&)> decays)
    : arena_(arena), config_(config) {
  USER_CHECK(arena.state_slots() >= 2, "AdamW needs a parameter arena with 2 state slots, got ", arena.state_slots());
  for (const auto& seg : arena.segments()) decay_.push_back(decays(seg.name));
}

void AdamW::step(double lr) {
  ++step_;
  AdamWScalars s{};
  s.lr = float(lr);
  s.beta1 = float(config_.beta1);
  s.beta2 = float(config_.beta2);
  s.eps = float(config_.eps);
  s.bias_correction1 = float(1.0 - std::pow(config_.beta1, double(step_)));
  s.bias_correction2_sqrt = float(std::sqrt(1.0 - std::pow(config_.beta2, double(step_))));
  float* p = arena_.values().data<float>();  // (R,)
  float* g = arena_.grads().data<float>();   // (R,)
  float* m = arena_.state(0).data<float>();  // (R,) exp_avg
  float* v = arena_.state(1).data<float>();  // (R,) exp_avg_sq
  const auto& segs = arena_.segments();
  for (size_t i = 0; i < segs.size(); ++i) {
    s.weight_decay = decay_[i] ? float(config_.weight_decay) : 0.f;
    int64_t o = segs[i].offset, n = segs[i].numel;
    if (arena_.device() == Device::CUDA) {
#ifdef ENGINE_CUDA
      adamw_update_cuda(p + o, g + o, m + o, v + o, n, s);
#endif
    } else {
      adamw_update_cpu(p + o, g + o, m + o, v + o, n, s);
    }
  }
}

}  // namespace engine
