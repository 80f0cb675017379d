// The element-wise maths of train/optimizer.h, written once for the CPU reference and the CUDA kernels.
// Scalars are computed on the host in double and rounded to float once, as torch/timm pass Python floats.
#pragma once
#include <cmath>
#include <cstdint>

#include "engine/rng.h"  // ENGINE_HD

namespace engine::train {

struct AdamScalars {
  float lr;                    // this group's learning rate
  float beta1, beta2;
  float one_minus_beta1, one_minus_beta2;
  float eps;
  float weight_decay;
  float decay_factor;          // AdamW: 1 - lr wd
  float step_size;             // AdamW: lr / (1 - b1^t)
  float bias_correction1;      // LAMB: 1 - b1^t
  float bias_correction2_sqrt; // sqrt(1 - b2^t)
};

// torch.optim.AdamW, single-tensor path. In place on p, m, v.
ENGINE_HD void adamw_element(float& p, float g, float& m, float& v, const AdamScalars& s) {
  p = p * s.decay_factor;
  m = m + s.one_minus_beta1 * (g - m);  // lerp with weight < 0.5
  v = v * s.beta2 + s.one_minus_beta2 * g * g;
  const float denom = sqrtf(v) / s.bias_correction2_sqrt + s.eps;
  p = p + (-s.step_size) * m / denom;
}

// timm Lamb's update u from the moments (before the trust ratio).
ENGINE_HD float lamb_update(float p, float m, float v, const AdamScalars& s) {
  const float denom = sqrtf(v) / s.bias_correction2_sqrt + s.eps;
  float u = (m / s.bias_correction1) / denom;
  if (s.weight_decay != 0.f) u = u + s.weight_decay * p;
  return u;
}

// timm Lamb: the moments from the clipped gradient g / clip, in place; returns u.
ENGINE_HD float lamb_moments(float p, float g, float clip, float& m, float& v, const AdamScalars& s) {
  g = g / clip;
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + s.one_minus_beta2 * g * g;
  return lamb_update(p, m, v, s);
}

// The trust ratio ||p|| / ||u|| from the squared norms, 1 where either is 0.
ENGINE_HD float lamb_trust_ratio(float p_norm_sq, float u_norm_sq) {
  const float w = sqrtf(p_norm_sq), g = sqrtf(u_norm_sq);
  return w > 0.f && g > 0.f ? w / g : 1.f;
}

}  // namespace engine::train
