#include "engine/cuda_context.h"
#include "ops/attention.h"

namespace engine::ops {

namespace {

// One thread per element, indexed in heads-major (S, N, H, T, D) order; writes to dst are then
// scattered by D-long runs, reads from the heads-major side are coalesced.
__global__ void split_heads_kernel(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H,
                                   int64_t D) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= S * N * H * T * D) return;
  int64_t d = i % D;
  int64_t t = (i / D) % T;
  int64_t h = (i / (D * T)) % H;
  int64_t n = (i / (D * T * H)) % N;
  int64_t s = i / (D * T * H * N);
  dst[i] = src[(((n * T + t) * S + s) * H + h) * D + d];
}

__global__ void merge_heads_kernel(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H,
                                   int64_t D, bool accumulate) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= S * N * H * T * D) return;
  int64_t d = i % D;
  int64_t t = (i / D) % T;
  int64_t h = (i / (D * T)) % H;
  int64_t n = (i / (D * T * H)) % N;
  int64_t s = i / (D * T * H * N);
  float& o = dst[(((n * T + t) * S + s) * H + h) * D + d];
  o = accumulate ? o + src[i] : src[i];  // the permutation is a bijection: no two threads share o
}

}  // namespace

void split_heads_cuda(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D) {
  int64_t n = S * N * H * T * D;
  if (n == 0) return;
  split_heads_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(src, dst, N, T, S, H, D);
  CUDA_CHECK_LAUNCH();
}

void merge_heads_cuda(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D,
                      bool accumulate) {
  int64_t n = S * N * H * T * D;
  if (n == 0) return;
  merge_heads_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(src, dst, N, T, S, H, D, accumulate);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
