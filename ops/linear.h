// Fully connected layer, PyTorch nn.Linear layout.
//   linear(x, w, b): y = x w^T + b
//     x: (..., K)   w: (M, K)   b: (M) or undefined   ->   y: (..., M)
// GEMMs through ops/matmul.h (OpenBLAS / cuBLAS); the bias broadcast and its gradient are own kernels.
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

#ifdef ENGINE_CUDA
// y[r, m] = b[m] for every row r of y (R, M).
void bias_rows_fill_cuda(const float* b, float* y, int64_t R, int64_t M);
// db[m] += sum_r dy[r, m],  dy (R, M).
void bias_rows_backward_cuda(const float* dy, float* db, int64_t R, int64_t M);
#endif

}  // namespace engine::ops
