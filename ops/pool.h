// Global average pooling over the spatial dimensions of channels-last activations:
//   x: (N, H, W, C) -> y: (N, C),  y[n, c] = sum_{h, w} x[n, h, w, c] / (H*W)
// (torch: x.mean([-2, -1]) on NCHW). Backward: dx[n, h, w, c] += dy[n, c] / (H*W).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace engine::ops {

Tensor global_avg_pool(const Tensor& x);

#ifdef ENGINE_CUDA
// x: (N, HW, C) -> y: (N, C).
void global_avg_pool_forward_cuda(const float* x, float* y, int64_t N, int64_t HW, int64_t C);
// dx (N, HW, C) += dy (N, C) / HW.
void global_avg_pool_backward_cuda(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C);
#endif

}  // namespace engine::ops
