// Engine-internal elementwise helpers on whole tensors (no autograd), CPU and CUDA.
#pragma once
#include "engine/tensor.h"

namespace engine::kernels {

// y += a * x   (same shape, dtype, device)
void axpy(Tensor& y, const Tensor& x, double a);
// y *= a
void scale(Tensor& y, double a);
// y = value
void fill(Tensor& y, double value);

#ifdef ENGINE_CUDA
void axpy_cuda(float* y, const float* x, float a, int64_t n);
void scale_cuda(float* y, float a, int64_t n);
void fill_cuda(float* y, float value, int64_t n);
#endif

}  // namespace engine::kernels
