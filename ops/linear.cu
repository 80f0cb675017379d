#include "engine/cuda_context.h"
#include "ops/linear.h"

namespace engine::ops {

namespace {

// One thread per element of y (R, M).
__global__ void bias_rows_fill_kernel(const float* b, float* y, int64_t R, int64_t M) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < R * M) y[i] = b[i % M];
}

// One thread per column m, looping over the rows: neighbouring threads read neighbouring columns.
__global__ void bias_rows_backward_kernel(const float* dy, float* db, int64_t R, int64_t M) {
  int64_t m = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= M) return;
  float acc = 0.f;
  for (int64_t r = 0; r < R; ++r) acc += dy[r * M + m];
  db[m] += acc;
}

}  // namespace

void bias_rows_fill_cuda(const float* b, float* y, int64_t R, int64_t M) {
  if (R * M == 0) return;
  bias_rows_fill_kernel<<<cuda::grid_for(R * M, 256), 256, 0, cuda::stream()>>>(b, y, R, M);
  CUDA_CHECK_LAUNCH();
}

void bias_rows_backward_cuda(const float* dy, float* db, int64_t R, int64_t M) {
  if (M == 0) return;
  bias_rows_backward_kernel<<<cuda::grid_for(M, 256), 256, 0, cuda::stream()>>>(dy, db, R, M);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
