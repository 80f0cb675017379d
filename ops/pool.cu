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

// One thread per output (n, c): the frequency mean of each frame, their first maximum and their mean.
__global__ void time_max_mean_pool_forward_kernel(const float* x, float* y, int32_t* argmax, int64_t N, int64_t H,
                                                  int64_t W, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C;
  float best = 0.f, sum = 0.f;
  int32_t best_w = 0;
  for (int64_t w = 0; w < W; ++w) {
    float m = 0.f;
    for (int64_t h = 0; h < H; ++h) m += x[((n * H + h) * W + w) * C + c];
    m /= float(H);
    sum += m;
    if (w == 0 || m > best) best = m, best_w = int32_t(w);
  }
  y[i] = best + sum / float(W);
  argmax[i] = best_w;
}

// One thread per input element.
__global__ void time_max_mean_pool_backward_kernel(const float* dy, const int32_t* argmax, float* dx, int64_t N,
                                                   int64_t H, int64_t W, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * H * W * C) return;
  const int64_t c = i % C, w = (i / C) % W, n = i / (H * W * C);
  const float g = dy[n * C + c] / float(H);
  dx[i] += g / float(W) + (argmax[n * C + c] == w ? g : 0.f);
}

}  // namespace

void time_max_mean_pool_forward_cuda(const float* x, float* y, int32_t* argmax, int64_t N, int64_t H, int64_t W,
                                     int64_t C) {
  if (N * C == 0) return;
  time_max_mean_pool_forward_kernel<<<cuda::grid_for(N * C, kBlock), kBlock, 0, cuda::stream()>>>(x, y, argmax, N, H,
                                                                                                  W, C);
  CUDA_CHECK_LAUNCH();
}

void time_max_mean_pool_backward_cuda(const float* dy, const int32_t* argmax, float* dx, int64_t N, int64_t H,
                                      int64_t W, int64_t C) {
  if (N * H * W * C == 0) return;
  time_max_mean_pool_backward_kernel<<<cuda::grid_for(N * H * W * C, kBlock), kBlock, 0, cuda::stream()>>>(
      dy, argmax, dx, N, H, W, C);
  CUDA_CHECK_LAUNCH();
}

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
