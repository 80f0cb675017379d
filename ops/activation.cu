#include "engine/cuda_context.h"
#include "ops/activation_math.h"

namespace engine::ops {

namespace {

__global__ void unary_forward_kernel(Unary op, const float* x, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = unary_value(op, x[i]);
}

__global__ void unary_backward_kernel(Unary op, const float* x, const float* dy, float* dx, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] += dy[i] * unary_derivative(op, x[i]);
}

__global__ void star_relu_forward_kernel(const float* x, const float* scale, const float* bias, float* y, int64_t n) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    float r = fmaxf(x[i], 0.f);
    y[i] = scale[0] * r * r + bias[0];
  }
}

// One block-wide partial sum per block, added atomically to the scalar gradients.
__global__ void star_relu_backward_kernel(const float* x, const float* scale, const float* dy, float* dx,
                                          float* dscale, float* dbias, int64_t n) {
  __shared__ float s_scale[256];
  __shared__ float s_bias[256];
  float acc_s = 0.f, acc_b = 0.f;
  float s = scale[0];
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float r = fmaxf(x[i], 0.f);
    float g = dy[i];
    if (dx) dx[i] += g * s * 2.f * r;
    acc_s += g * r * r;
    acc_b += g;
  }
  s_scale[threadIdx.x] = acc_s;
  s_bias[threadIdx.x] = acc_b;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      s_scale[threadIdx.x] += s_scale[threadIdx.x + stride];
      s_bias[threadIdx.x] += s_bias[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (dscale) atomicAdd(dscale, s_scale[0]);
    if (dbias) atomicAdd(dbias, s_bias[0]);
  }
}

}  // namespace

void unary_forward_cuda(Unary op, const float* x, float* y, int64_t n) {
  if (n == 0) return;
  unary_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(op, x, y, n);
  CUDA_CHECK_LAUNCH();
}

void unary_backward_cuda(Unary op, const float* x, const float* dy, float* dx, int64_t n) {
  if (n == 0) return;
  unary_backward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(op, x, dy, dx, n);
  CUDA_CHECK_LAUNCH();
}

void star_relu_forward_cuda(const float* x, const float* scale, const float* bias, float* y, int64_t n) {
  if (n == 0) return;
  star_relu_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(x, scale, bias, y, n);
  CUDA_CHECK_LAUNCH();
}

void star_relu_backward_cuda(const float* x, const float* scale, const float* dy, float* dx, float* dscale,
                             float* dbias, int64_t n) {
  if (n == 0) return;
  unsigned grid = cuda::grid_for(n, 256);
  if (grid > 1024) grid = 1024;
  star_relu_backward_kernel<<<grid, 256, 0, cuda::stream()>>>(x, scale, dy, dx, dscale, dbias, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
