#include "engine/cuda_context.h"
#include "engine/elementwise_kernels.h"

namespace engine::kernels {

namespace {
__global__ void axpy_kernel(float* y, const float* x, float a, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];
}
__global__ void scale_kernel(float* y, float a, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] *= a;
}
__global__ void fill_kernel(float* y, float v, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = v;
}
}  // namespace

void axpy_cuda(float* y, const float* x, float a, int64_t n) {
  if (n == 0) return;
  axpy_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(y, x, a, n);
  CUDA_CHECK_LAUNCH();
}
void scale_cuda(float* y, float a, int64_t n) {
  if (n == 0) return;
  scale_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(y, a, n);
  CUDA_CHECK_LAUNCH();
}
void fill_cuda(float* y, float v, int64_t n) {
  if (n == 0) return;
  fill_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(y, v, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::kernels
