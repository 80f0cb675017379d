// Element-type conversion between tensors of equal shape on the same device.
#pragma once
#include "engine/tensor.h"

namespace engine {
void cast_into(const Tensor& src, Tensor& dst);
#ifdef ENGINE_CUDA
// CUDA conversion between f32, f64 and bf16 (tensor_cast.cu).
void cast_cuda(const void* src, DType src_type, void* dst, DType dst_type, int64_t n);
#endif
}  // namespace engine
