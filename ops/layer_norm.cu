#include "engine/cuda_context.h"
#include "ops/cuda_reduce.cuh"
#include "ops/layer_norm.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 256;         // threads per block; a power of two for the tree reduction
constexpr int kColumnChunks = 256;  // row chunks (gridDim.y) of the weight/bias gradient kernel


// One block per row; threads stride over the C channels.
__global__ void layer_norm_forward_kernel(const float* x, const float* w, const float* b, float* y, float* mean,
                                          float* rstd, int64_t C, float eps) {
  __shared__ float buf[kBlock];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * C;  // (C)
  float* yr = y + r * C;        // (C)
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < C; c += kBlock) s += xr[c];
  const float m = block_sum<kBlock>(s, buf) / float(C);
  float v = 0.f;  // two passes: no cancellation in E[x^2] - E[x]^2
  for (int64_t c = threadIdx.x; c < C; c += kBlock) {
    float d = xr[c] - m;
    v += d * d;
  }
  const float rs = 1.f / sqrtf(block_sum<kBlock>(v, buf) / float(C) + eps);
  for (int64_t c = threadIdx.x; c < C; c += kBlock) {
    float h = (xr[c] - m) * rs;
    if (w) h *= w[c];
    if (b) h += b[c];
    yr[c] = h;
  }
  if (threadIdx.x == 0) {
    mean[r] = m;
    rstd[r] = rs;
  }
}

// dx += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. One block per row.
__global__ void layer_norm_backward_dx_kernel(const float* x, const float* w, const float* mean, const float* rstd,
                                              const float* dy, float* dx, int64_t C) {
  __shared__ float buf[kBlock];
  const int64_t r = blockIdx.x;
  const float* xr = x + r * C;    // (C)
  const float* dyr = dy + r * C;  // (C)
  float* dxr = dx + r * C;        // (C)
  const float m = mean[r], rs = rstd[r];
  float sg = 0.f, sgh = 0.f;
  for (int64_t c = threadIdx.x; c < C; c += kBlock) {
    float h = (xr[c] - m) * rs;
    float g = w ? dyr[c] * w[c] : dyr[c];
    sg += g;
    sgh += g * h;
  }
  const float mean_g = block_sum<kBlock>(sg, buf) / float(C);
  const float mean_gh = block_sum<kBlock>(sgh, buf) / float(C);
  for (int64_t c = threadIdx.x; c < C; c += kBlock) {
    float h = (xr[c] - m) * rs;
    float g = w ? dyr[c] * w[c] : dyr[c];
    dxr[c] += rs * (g - mean_g - h * mean_gh);
  }
}

// dw += sum_rows dy * xhat, db += sum_rows dy. Thread per channel (blockIdx.x, threadIdx.x); the rows are
// split over gridDim.y chunks whose partial sums are added atomically.
__global__ void layer_norm_backward_dwdb_kernel(const float* x, const float* mean, const float* rstd,
                                                const float* dy, float* dw, float* db, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * kBlock + threadIdx.x;
  if (c >= C) return;
  float sw = 0.f, sb = 0.f;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    float g = dy[r * C + c];
    sw += g * (x[r * C + c] - mean[r]) * rstd[r];
    sb += g;
  }
  if (dw) atomicAdd(dw + c, sw);
  if (db) atomicAdd(db + c, sb);
}

}  // namespace

void layer_norm_forward_cuda(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                             int64_t rows, int64_t C, float eps) {
  if (rows == 0) return;
  ENGINE_CHECK(rows <= 2147483647, "layer_norm: too many rows for one grid: ", rows);
  layer_norm_forward_kernel<<<unsigned(rows), kBlock, 0, cuda::stream()>>>(x, w, b, y, mean, rstd, C, eps);
  CUDA_CHECK_LAUNCH();
}

void layer_norm_backward_cuda(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                              float* dx, float* dw, float* db, int64_t rows, int64_t C) {
  if (rows == 0) return;
  ENGINE_CHECK(rows <= 2147483647, "layer_norm: too many rows for one grid: ", rows);
  if (dx) {
    layer_norm_backward_dx_kernel<<<unsigned(rows), kBlock, 0, cuda::stream()>>>(x, w, mean, rstd, dy, dx, C);
    CUDA_CHECK_LAUNCH();
  }
  if (dw || db) {
    dim3 grid(cuda::grid_for(C, kBlock), unsigned(rows < kColumnChunks ? rows : kColumnChunks));
    layer_norm_backward_dwdb_kernel<<<grid, kBlock, 0, cuda::stream()>>>(x, mean, rstd, dy, dw, db, rows, C);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace engine::ops
