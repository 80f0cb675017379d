#include <cmath>

#include "engine/cuda_context.h"
#include "ops/softmax.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 128;  // threads per row; a power of two for the tree reduction

// Tree reduction over the block's kBlock threads; every thread gets the result. `shared` has kBlock floats.
template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      float a = shared[threadIdx.x], b = shared[threadIdx.x + s];
      shared[threadIdx.x] = kMax ? fmaxf(a, b) : a + b;
    }
    __syncthreads();
  }
  float r = shared[0];
  __syncthreads();  // everyone has read shared[0] before the next reduction overwrites it
  return r;
}

// One block per row (grid-stride over rows); threads stride over the row's L elements.
__global__ void softmax_forward_kernel(const float* x, float* y, int64_t R, int64_t L) {
  __shared__ float shared[kBlock];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const float* xr = x + r * L;
    float* yr = y + r * L;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < L; i += kBlock) mx = fmaxf(mx, xr[i]);
    mx = block_reduce<true>(mx, shared);
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < L; i += kBlock) {
      float e = expf(xr[i] - mx);
      yr[i] = e;  // same element this thread just read: safe when y aliases x
      sum += e;
    }
    float inv = 1.f / block_reduce<false>(sum, shared);
    for (int64_t i = threadIdx.x; i < L; i += kBlock) yr[i] *= inv;
  }
}

__global__ void softmax_backward_kernel(const float* y, const float* dy, float* dx, int64_t R, int64_t L) {
  __shared__ float shared[kBlock];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const float* yr = y + r * L;
    const float* dyr = dy + r * L;
    float* dxr = dx + r * L;
    float dot = 0.f;
    for (int64_t i = threadIdx.x; i < L; i += kBlock) dot += dyr[i] * yr[i];
    dot = block_reduce<false>(dot, shared);
    for (int64_t i = threadIdx.x; i < L; i += kBlock) dxr[i] += yr[i] * (dyr[i] - dot);
  }
}

}  // namespace

void softmax_rows_forward_cuda(const float* x, float* y, int64_t R, int64_t L) {
  if (R == 0 || L == 0) return;
  softmax_forward_kernel<<<cuda::grid_for(R, 1), kBlock, 0, cuda::stream()>>>(x, y, R, L);
  CUDA_CHECK_LAUNCH();
}

void softmax_rows_backward_cuda(const float* y, const float* dy, float* dx, int64_t R, int64_t L) {
  if (R == 0 || L == 0) return;
  softmax_backward_kernel<<<cuda::grid_for(R, 1), kBlock, 0, cuda::stream()>>>(y, dy, dx, R, L);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
