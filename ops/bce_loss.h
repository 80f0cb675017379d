// Binary cross-entropy on logits, mean reduction (torch.nn.BCEWithLogitsLoss()); soft targets allowed.
//   bce_with_logits(x, t) = mean_i [ max(x_i, 0) - x_i t_i + log(1 + exp(-|x_i|)) ]     -> shape {}
//     x (logits), t (targets in [0, 1]): same shape, n elements.
//   backward (g = upstream gradient):  dx += g (sigmoid(x) - t) / n,   dt += -g x / n
#pragma once
#include <cmath>

#include "engine/rng.h"  // ENGINE_HD
#include "engine/tensor.h"
#include "ops/scalar_math.h"

namespace engine::ops {

Tensor bce_with_logits(const Tensor& logits, const Tensor& targets);

// One element's loss; the log term never overflows.
template <class T>
ENGINE_HD T bce_term(T x, T t) {
  return (x > T(0) ? x : T(0)) - x * t + log1p(exp(-fabs(x)));
}

// sigmoid(x) without overflow for large |x|.
template <class T>
ENGINE_HD T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

#ifdef ENGINE_CUDA
// loss[0] = mean bce_term(x, t) over n elements (loss is overwritten).
void bce_forward_cuda(const float* x, const float* t, float* loss, int64_t n);
// dx += dloss[0] * (sigmoid(x) - t) / n (if dx);  dt += -dloss[0] * x / n (if dt).
void bce_backward_cuda(const float* x, const float* t, const float* dloss, float* dx, float* dt, int64_t n);
#endif

}  // namespace engine::ops
