#include "engine/cuda_context.h"
#include "ops/bce_loss.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 256;  // a power of two for the tree reduction

// Grid-stride partial sums of term/n, one shared-memory tree reduction per block, atomically added.
__global__ void bce_forward_kernel(const float* x, const float* t, float* loss, int64_t n) {
  __shared__ float shared[kBlock];
  const float inv_n = 1.f / float(n);
  float acc = 0.f;
  for (int64_t i = int64_t(blockIdx.x) * kBlock + threadIdx.x; i < n; i += int64_t(gridDim.x) * kBlock)
    acc += bce_term(x[i], t[i]) * inv_n;
  shared[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(loss, shared[0]);
}

__global__ void bce_backward_kernel(const float* x, const float* t, const float* dloss, float* dx, float* dt,
                                    int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float gn = dloss[0] / float(n);
  if (dx) dx[i] += gn * (stable_sigmoid(x[i]) - t[i]);
  if (dt) dt[i] -= gn * x[i];
}

}  // namespace

void bce_forward_cuda(const float* x, const float* t, float* loss, int64_t n) {
  cuda::memset_zero(loss, sizeof(float));
  if (n == 0) return;
  unsigned grid = cuda::grid_for(n, kBlock);
  if (grid > 1024) grid = 1024;
  bce_forward_kernel<<<grid, kBlock, 0, cuda::stream()>>>(x, t, loss, n);
  CUDA_CHECK_LAUNCH();
}

void bce_backward_cuda(const float* x, const float* t, const float* dloss, float* dx, float* dt, int64_t n) {
  if (n == 0) return;
  bce_backward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(x, t, dloss, dx, dt, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
