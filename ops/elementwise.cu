#include "engine/cuda_context.h"
#include "ops/elementwise.h"

namespace engine::ops {

namespace {

__global__ void add_forward_kernel(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a[i] + b[i];
}

__global__ void mul_forward_kernel(const float* a, const float* b, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a[i] * b[i];
}

// One thread per element handles both gradients, so mul(x, x) (da == db) accumulates twice correctly.
__global__ void mul_backward_kernel(const float* a, const float* b, const float* dy, float* da, float* db, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    if (da) da[i] += dy[i] * b[i];
    if (db) db[i] += dy[i] * a[i];
  }
}

__global__ void scale_channels_forward_kernel(const float* x, const float* gamma, float* y, int64_t n, int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] * gamma[i % C];
}

__global__ void scale_channels_dx_kernel(const float* gamma, const float* dy, float* dx, int64_t n, int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] += dy[i] * gamma[i % C];
}

// dgamma: a block covers 32 channels (threadIdx.x, coalesced along C) and 8 row lanes (threadIdx.y);
// blockIdx.y strides over rows. The 8 lanes are summed in shared memory, then one atomicAdd per channel.
constexpr int kChanTile = 32;
constexpr int kRowLanes = 8;

__global__ void scale_channels_dgamma_kernel(const float* x, const float* dy, float* dgamma, int64_t rows, int64_t C) {
  __shared__ float partial[kRowLanes][kChanTile];
  int64_t c = int64_t(blockIdx.x) * kChanTile + threadIdx.x;
  float acc = 0.f;
  if (c < C) {
    for (int64_t r = int64_t(blockIdx.y) * kRowLanes + threadIdx.y; r < rows; r += int64_t(gridDim.y) * kRowLanes)
      acc += dy[r * C + c] * x[r * C + c];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float s = 0.f;
    for (int l = 0; l < kRowLanes; ++l) s += partial[l][threadIdx.x];
    atomicAdd(dgamma + c, s);
  }
}

}  // namespace

void add_forward_cuda(const float* a, const float* b, float* y, int64_t n) {
  if (n == 0) return;
  add_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(a, b, y, n);
  CUDA_CHECK_LAUNCH();
}

void mul_forward_cuda(const float* a, const float* b, float* y, int64_t n) {
  if (n == 0) return;
  mul_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(a, b, y, n);
  CUDA_CHECK_LAUNCH();
}

void mul_backward_cuda(const float* a, const float* b, const float* dy, float* da, float* db, int64_t n) {
  if (n == 0) return;
  mul_backward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(a, b, dy, da, db, n);
  CUDA_CHECK_LAUNCH();
}

void scale_channels_forward_cuda(const float* x, const float* gamma, float* y, int64_t rows, int64_t C) {
  int64_t n = rows * C;
  if (n == 0) return;
  scale_channels_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(x, gamma, y, n, C);
  CUDA_CHECK_LAUNCH();
}

void scale_channels_backward_cuda(const float* x, const float* gamma, const float* dy, float* dx, float* dgamma,
                                  int64_t rows, int64_t C) {
  int64_t n = rows * C;
  if (n == 0) return;
  if (dx) {
    scale_channels_dx_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(gamma, dy, dx, n, C);
    CUDA_CHECK_LAUNCH();
  }
  if (dgamma) {
    unsigned row_blocks = cuda::grid_for(rows, kRowLanes);
    if (row_blocks > 256) row_blocks = 256;  // each thread then loops over rows / (256 * 8) rows
    dim3 grid(cuda::grid_for(C, kChanTile), row_blocks);
    dim3 block(kChanTile, kRowLanes);
    scale_channels_dgamma_kernel<<<grid, block, 0, cuda::stream()>>>(x, dy, dgamma, rows, C);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace engine::ops
