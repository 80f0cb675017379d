#include "engine/cuda_context.h"
#include "engine/rng.h"
#include "ops/drop_path.h"

namespace engine::ops {

namespace {

// The same float comparison as the CPU reference (ops/drop_path.cpp), so both drop the same samples.
__device__ __forceinline__ float sample_scale(int64_t n, float keep_prob, float scale, uint64_t seed,
                                              uint64_t offset) {
  return philox_uniform(seed, offset, uint64_t(n)) < keep_prob ? scale : 0.f;
}

// One thread per element; each recomputes its sample's Philox draw (10 rounds, cheap next to the load).
__global__ void drop_path_forward_kernel(const float* x, float* y, int64_t N, int64_t inner, float keep_prob,
                                         float scale, uint64_t seed, uint64_t offset) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < N * inner) y[i] = x[i] * sample_scale(i / inner, keep_prob, scale, seed, offset);
}

__global__ void drop_path_backward_kernel(const float* dy, float* dx, int64_t N, int64_t inner, float keep_prob,
                                          float scale, uint64_t seed, uint64_t offset) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < N * inner) dx[i] += dy[i] * sample_scale(i / inner, keep_prob, scale, seed, offset);
}

}  // namespace

void drop_path_forward_cuda(const float* x, float* y, int64_t N, int64_t inner, float keep_prob, float scale,
                            uint64_t seed, uint64_t offset) {
  int64_t n = N * inner;
  if (n == 0) return;
  drop_path_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(x, y, N, inner, keep_prob, scale,
                                                                              seed, offset);
  CUDA_CHECK_LAUNCH();
}

void drop_path_backward_cuda(const float* dy, float* dx, int64_t N, int64_t inner, float keep_prob, float scale,
                             uint64_t seed, uint64_t offset) {
  int64_t n = N * inner;
  if (n == 0) return;
  drop_path_backward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(dy, dx, N, inner, keep_prob, scale,
                                                                               seed, offset);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
