// Stochastic depth (drop path), per sample, as timm's drop_path with scale_by_keep=True:
//   keep_n = philox_uniform(seed, offset, n) < 1 - p          (engine/rng.h; n = sample index)
//   y[n, ...] = keep_n ? x[n, ...] / (1 - p) : 0
// x: (N, ...). The mask is a pure function of (seed, offset, n), computed on the host for CPU tensors and
// in the kernel for CUDA tensors, so both devices drop the same samples. Backward recomputes it.
// If !training or p == 0 the op is the identity and returns x itself (no copy, no tape entry).
// p must lie in [0, 1).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace engine::ops {

Tensor drop_path(const Tensor& x, double p, bool training, uint64_t seed, uint64_t offset);

#ifdef ENGINE_CUDA
// x, y: (N, inner) flattened. y = x * (keep_n ? scale : 0) with keep_n = philox_uniform(...) < keep_prob.
void drop_path_forward_cuda(const float* x, float* y, int64_t N, int64_t inner, float keep_prob, float scale,
                            uint64_t seed, uint64_t offset);
// dx += dy * (keep_n ? scale : 0).
void drop_path_backward_cuda(const float* dy, float* dx, int64_t N, int64_t inner, float keep_prob, float scale,
                             uint64_t seed, uint64_t offset);
#endif

}  // namespace engine::ops
