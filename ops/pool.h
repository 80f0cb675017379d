// Pooling of channels-last activations (N, H, W, C) to one vector per clip (N, C).
//
// Global average pooling over the spatial dimensions (torch: x.mean([-2, -1]) on NCHW):
//   y[n, c] = sum_{h, w} x[n, h, w, c] / (H*W);  backward dx[n, h, w, c] += dy[n, c] / (H*W).
//
// Time max + mean pooling, H = frequency, W = time (PANNs' CNN14 head: x.mean(2); max(x, 2) + x.mean(2)):
//   m[n, w, c] = sum_h x[n, h, w, c] / H,   y[n, c] = max_w m[n, w, c] + sum_w m[n, w, c] / W,
//   backward dx[n, h, w, c] += dy[n, c] / H * (1/W + [w == w*[n, c]]),
// where w*[n, c] is the first w at which m[n, w, c] is largest (saved by the forward). A short sound event
// keeps its full strength in the max, where the average over a 10 s clip dilutes it.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace engine::ops {

Tensor global_avg_pool(const Tensor& x);
Tensor time_max_mean_pool(const Tensor& x);

#ifdef ENGINE_CUDA
// x: (N, HW, C) -> y: (N, C).
void global_avg_pool_forward_cuda(const float* x, float* y, int64_t N, int64_t HW, int64_t C);
// dx (N, HW, C) += dy (N, C) / HW.
void global_avg_pool_backward_cuda(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C);
// x: (N, H, W, C) -> y: (N, C), argmax (N, C): w* of each (n, c).
void time_max_mean_pool_forward_cuda(const float* x, float* y, int32_t* argmax, int64_t N, int64_t H, int64_t W,
                                     int64_t C);
// dx (N, H, W, C) += the backward above.
void time_max_mean_pool_backward_cuda(const float* dy, const int32_t* argmax, float* dx, int64_t N, int64_t H,
                                      int64_t W, int64_t C);
#endif

}  // namespace engine::ops
