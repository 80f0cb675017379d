// Elementwise binary ops and per-channel scaling (any shape, same device and dtype).
//   add(a, b)               y = a + b                      (same shape; also the residual connection)
//   mul(a, b)               y = a * b                      (same shape)
//   scale_channels(x, g)    y[..., c] = x[..., c] * g[c]   (x channels-last (..., C), g (C))
//                           layer scale (ConvNeXt gamma, FastViT layer_scale), ConvFormer res_scale
// Backward accumulates into every input that requires grad.
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale_channels(const Tensor& x, const Tensor& gamma);

#ifdef ENGINE_CUDA
void add_forward_cuda(const float* a, const float* b, float* y, int64_t n);
void mul_forward_cuda(const float* a, const float* b, float* y, int64_t n);
// da += dy * b (if da); db += dy * a (if db).
void mul_backward_cuda(const float* a, const float* b, const float* dy, float* da, float* db, int64_t n);
// x: (rows, C) flattened, gamma: (C).
void scale_channels_forward_cuda(const float* x, const float* gamma, float* y, int64_t rows, int64_t C);
// dx += dy * gamma (if dx); dgamma[c] += sum_rows dy * x (if dgamma).
void scale_channels_backward_cuda(const float* x, const float* gamma, const float* dy, float* dx, float* dgamma,
                                  int64_t rows, int64_t C);
#endif

}  // namespace engine::ops
