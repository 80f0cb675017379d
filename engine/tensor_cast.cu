#include <cuda_bf16.h>

#include "engine/cuda_context.h"
#include "engine/tensor_cast.h"

namespace engine {

namespace {
__device__ inline float load_f(const void* p, DType t, int64_t i) {
  if (t == DType::f32) return static_cast<const float*>(p)[i];
  if (t == DType::f64) return float(static_cast<const double*>(p)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
}

__global__ void cast_kernel(const void* src, DType st, void* dst, DType dt, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (st == DType::f64 && dt == DType::f64) {
    static_cast<double*>(dst)[i] = static_cast<const double*>(src)[i];
  } else if (dt == DType::f64) {
    static_cast<double*>(dst)[i] = double(load_f(src, st, i));
  } else if (dt == DType::f32) {
    static_cast<float*>(dst)[i] = st == DType::f64 ? float(static_cast<const double*>(src)[i]) : load_f(src, st, i);
  } else {
    float v = st == DType::f64 ? float(static_cast<const double*>(src)[i]) : load_f(src, st, i);
    static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(v);
  }
}
}  // namespace

void cast_cuda(const void* src, DType src_type, void* dst, DType dst_type, int64_t n) {
  if (n == 0) return;
  cast_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(src, src_type, dst, dst_type, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine
