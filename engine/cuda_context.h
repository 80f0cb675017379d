// The engine's CUDA context: one stream, one cuBLAS handle bound to it, and the caching allocator.
// Include only from code compiled with ENGINE_CUDA.
#pragma once
#ifdef ENGINE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "engine/check.h"

#define CUDA_CHECK(expr)                                                                      \
  do {                                                                                        \
    cudaError_t err_ = (expr);                                                                \
    if (err_ != cudaSuccess)                                                                  \
      ::engine::detail::fail_internal(__FILE__, __LINE__, #expr, cudaGetErrorString(err_));   \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                    \
  do {                                                                                        \
    cublasStatus_t st_ = (expr);                                                              \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                         \
      ::engine::detail::fail_internal(__FILE__, __LINE__, #expr, cublasGetStatusString(st_)); \
  } while (0)

// After a kernel launch: catches bad launch configurations at the call site.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace engine::cuda {

cudaStream_t stream();
cublasHandle_t cublas();

void* allocate(size_t bytes);
void release(void* ptr);
void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes);
void memset_zero(void* dst, size_t bytes);

// Grid size for a 1-D launch over n elements.
inline unsigned grid_for(int64_t n, int block) {
  int64_t g = (n + block - 1) / block;
  return unsigned(g < 1 ? 1 : (g > 2147483647 ? 2147483647 : g));
}

}  // namespace engine::cuda
#endif
