#include "engine/cuda_context.h"
#include "ops/pool.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 256;

// One thread per output (n, c), looping over the HW positions; adjacent threads read adjacent channels.
__global__ void global_avg_pool_forward_kernel(const float* x, float* y, int64_t N, int64_t HW, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  float s = 0.f;
  for (int64_t p = 0; p < HW; ++p) s += x[(n * HW + p) * C + c];
  y[i] = s / float(HW);
}

// One thread per input element.
__global__ void global_avg_pool_backward_kernel(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * HW * C) return;
  const int64_t n = i / (HW * C), c = i % C;
  dx[i] += dy[n * C + c] / float(HW);
}

}  // namespace

void global_avg_pool_forward_cuda(const float* x, float* y, int64_t N, int64_t HW, int64_t C) {
  if (N * C == 0) return;
  global_avg_pool_forward_kernel<<<cuda::grid_for(N * C, kBlock), kBlock, 0, cuda::stream()>>>(x, y, N, HW, C);
  CUDA_CHECK_LAUNCH();
}

void global_avg_pool_backward_cuda(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C) {
  if (N * HW * C == 0) return;
  global_avg_pool_backward_kernel<<<cuda::grid_for(N * HW * C, kBlock), kBlock, 0, cuda::stream()>>>(dy, dx, N, HW,
                                                                                                    C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
