// Softmax over the last dimension (any shape), numerically stable: the row max is subtracted first.
//   y[r, :] = exp(x[r, :] - max) / sum(exp(x[r, :] - max))
//   backward: dx += y * (dy - sum(dy * y))   (per row)
// The row kernels below are shared with self_attention.
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor softmax(const Tensor& x);

// Row kernels on whole tensors (no autograd); rows are the last dimension, all tensors the same shape.
// y = softmax(x); y may be x itself.
void softmax_rows_forward(const Tensor& x, Tensor& y);
// dx += y * (dy - rowsum(dy * y)); dx must not alias y or dy.
void softmax_rows_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

#ifdef ENGINE_CUDA
// x, y, dy, dx: (R, L) row-major.
void softmax_rows_forward_cuda(const float* x, float* y, int64_t R, int64_t L);
void softmax_rows_backward_cuda(const float* y, const float* dy, float* dx, int64_t R, int64_t L);
#endif

}  // namespace engine::ops
