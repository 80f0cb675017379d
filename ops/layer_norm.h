// Layer normalisation over the LAST dimension (channels-last activations), as torch.nn.functional.layer_norm
// with normalized_shape = (C,):
//   mean = sum_c x / C,  var = sum_c (x - mean)^2 / C   (biased),  rstd = 1 / sqrt(var + eps)
//   xhat = (x - mean) * rstd,  y = xhat * w + b
// x: (..., C); w: (C) or undefined (no weight); b: (C) or undefined (no bias; ConvFormer's
// LayerNormWithoutBias passes a weight only). Forward saves mean and rstd per row for the backward:
//   g = dy * w,  dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),  dw = sum_rows dy * xhat,  db = sum_rows dy
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps);

#ifdef ENGINE_CUDA
// rows = numel / C. w, b may be null. Writes y (rows, C), mean (rows), rstd (rows).
void layer_norm_forward_cuda(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                             int64_t rows, int64_t C, float eps);
// Accumulates into dx, dw, db (each may be null).
void layer_norm_backward_cuda(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                              float* dx, float* dw, float* db, int64_t rows, int64_t C);
#endif

}  // namespace engine::ops
