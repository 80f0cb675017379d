#include "engine/cuda_context.h"
#include "ops/cuda_reduce.cuh"
#include "ops/batch_norm.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 256;  // threads per block; a power of two for the tree reduction


// One block per channel c, looping over the M positions (x read with stride C).
__global__ void batch_norm_train_stats_kernel(const float* x, float* mean, float* rstd, float* running_mean,
                                              float* running_var, int64_t M, int64_t C, float momentum, float eps) {
  __shared__ float buf[kBlock];
  const int64_t c = blockIdx.x;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += kBlock) s += x[i * C + c];
  const float m = block_sum<kBlock>(s, buf) / float(M);
  float v = 0.f;  // two passes: no cancellation in E[x^2] - E[x]^2
  for (int64_t i = threadIdx.x; i < M; i += kBlock) {
    float d = x[i * C + c] - m;
    v += d * d;
  }
  const float var = block_sum<kBlock>(v, buf) / float(M);
  if (threadIdx.x == 0) {
    mean[c] = m;
    rstd[c] = 1.f / sqrtf(var + eps);
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * m;
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * var * (float(M) / float(M - 1));
  }
}

__global__ void batch_norm_eval_stats_kernel(const float* running_mean, const float* running_var, float* mean,
                                             float* rstd, int64_t C, float eps) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  mean[c] = running_mean[c];
  rstd[c] = 1.f / sqrtf(running_var[c] + eps);
}

// One thread per element of x (M, C).
__global__ void batch_norm_forward_kernel(const float* x, const float* mean, const float* rstd, const float* w,
                                          const float* b, float* y, int64_t n, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t c = i % C;
  float h = (x[i] - mean[c]) * rstd[c];
  if (w) h *= w[c];
  if (b) h += b[c];
  y[i] = h;
}

// One block per channel: sums[c] = sum dy, sums[C + c] = sum dy * xhat; dw[c] += the latter, db[c] += the
// former (the block owns channel c, no atomics needed).
__global__ void batch_norm_backward_sums_kernel(const float* x, const float* mean, const float* rstd, const float* dy,
                                                float* dw, float* db, float* sums, int64_t M, int64_t C) {
  __shared__ float buf[kBlock];
  const int64_t c = blockIdx.x;
  const float m = mean[c], rs = rstd[c];
  float s = 0.f, sh = 0.f;
  for (int64_t i = threadIdx.x; i < M; i += kBlock) {
    float g = dy[i * C + c];
    s += g;
    sh += g * (x[i * C + c] - m) * rs;
  }
  const float sum_dy = block_sum<kBlock>(s, buf);
  const float sum_dy_xhat = block_sum<kBlock>(sh, buf);
  if (threadIdx.x == 0) {
    sums[c] = sum_dy;
    sums[C + c] = sum_dy_xhat;
    if (dw) dw[c] += sum_dy_xhat;
    if (db) db[c] += sum_dy;
  }
}

// dx += rstd * w * (dy - [training] (sum dy + xhat * sum dy*xhat) / M). One thread per element.
__global__ void batch_norm_backward_dx_kernel(bool training, const float* x, const float* w, const float* mean,
                                              const float* rstd, const float* dy, const float* sums, float* dx,
                                              int64_t n, int64_t M, int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t c = i % C;
  const float rs = rstd[c];
  float g = dy[i];
  if (training) {
    float h = (x[i] - mean[c]) * rs;
    g -= (sums[c] + h * sums[C + c]) / float(M);
  }
  dx[i] += (w ? w[c] : 1.f) * rs * g;
}

__global__ void increment_counter_kernel(int64_t* counter) { counter[0] += 1; }

}  // namespace

void batch_norm_train_stats_cuda(const float* x, float* mean, float* rstd, float* running_mean, float* running_var,
                                 int64_t M, int64_t C, float momentum, float eps) {
  if (C == 0) return;
  ENGINE_CHECK(C <= 2147483647, "batch_norm2d: too many channels for one grid: ", C);
  batch_norm_train_stats_kernel<<<unsigned(C), kBlock, 0, cuda::stream()>>>(x, mean, rstd, running_mean,
                                                                            running_var, M, C, momentum, eps);
  CUDA_CHECK_LAUNCH();
}

void batch_norm_eval_stats_cuda(const float* running_mean, const float* running_var, float* mean, float* rstd,
                                int64_t C, float eps) {
  if (C == 0) return;
  batch_norm_eval_stats_kernel<<<cuda::grid_for(C, kBlock), kBlock, 0, cuda::stream()>>>(running_mean, running_var,
                                                                                         mean, rstd, C, eps);
  CUDA_CHECK_LAUNCH();
}

void batch_norm_forward_cuda(const float* x, const float* mean, const float* rstd, const float* w, const float* b,
                             float* y, int64_t M, int64_t C) {
  const int64_t n = M * C;
  if (n == 0) return;
  batch_norm_forward_kernel<<<cuda::grid_for(n, kBlock), kBlock, 0, cuda::stream()>>>(x, mean, rstd, w, b, y, n, C);
  CUDA_CHECK_LAUNCH();
}

void batch_norm_backward_cuda(bool training, const float* x, const float* w, const float* mean, const float* rstd,
                              const float* dy, float* dx, float* dw, float* db, float* sums, int64_t M, int64_t C) {
  const int64_t n = M * C;
  if (n == 0) return;
  ENGINE_CHECK(C <= 2147483647, "batch_norm2d: too many channels for one grid: ", C);
  // The sums feed dw, db and (training) dx; eval-mode dx alone does not need them.
  if (dw || db || (dx && training)) {
    batch_norm_backward_sums_kernel<<<unsigned(C), kBlock, 0, cuda::stream()>>>(x, mean, rstd, dy, dw, db, sums, M,
                                                                               C);
    CUDA_CHECK_LAUNCH();
  }
  if (dx) {
    batch_norm_backward_dx_kernel<<<cuda::grid_for(n, kBlock), kBlock, 0, cuda::stream()>>>(training, x, w, mean, rstd,
                                                                                            dy, sums, dx, n, M, C);
    CUDA_CHECK_LAUNCH();
  }
}

void increment_counter_cuda(int64_t* counter) {
  increment_counter_kernel<<<1, 1, 0, cuda::stream()>>>(counter);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
