// Per-sample channel gate: the excitation step of squeeze-and-excitation (MobileOne's SEBlock,
// `inputs * sigmoid(...).view(-1, C, 1, 1)` on NCHW).
//   channel_gate(x, s): x (N, H, W, C), s (N, C) -> y (N, H, W, C),  y[n,h,w,c] = x[n,h,w,c] * s[n,c]
// Backward accumulates:
//   dx[n,h,w,c] += dy[n,h,w,c] * s[n,c]
//   ds[n,c]     += sum_{h,w} dy[n,h,w,c] * x[n,h,w,c]
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor channel_gate(const Tensor& x, const Tensor& s);

#ifdef ENGINE_CUDA
// x, y: (N, HW, C) flattened, s: (N, C).
void channel_gate_forward_cuda(const float* x, const float* s, float* y, int64_t N, int64_t HW, int64_t C);
// dx += dy * s (if dx); ds[n, c] += sum_hw dy * x (if ds).
void channel_gate_backward_cuda(const float* x, const float* s, const float* dy, float* dx, float* ds, int64_t N,
                                int64_t HW, int64_t C);
#endif

}  // namespace engine::ops
