#include "engine/cuda_context.h"
#include "ops/layout.h"

namespace engine::ops {

namespace {

// Input offset of output element o (same arithmetic as the CPU reference in ops/layout.cpp).
__device__ __forceinline__ int64_t permute_source(const PermuteMap& map, int64_t o) {
  int64_t src = 0;
  for (int d = map.rank - 1; d >= 0; --d) {
    src += (o % map.out_shape[d]) * map.in_stride[d];
    o /= map.out_shape[d];
  }
  return src;
}

// One thread per output element: writes are coalesced, reads gather.
__global__ void permute_forward_kernel(PermuteMap map, const float* x, float* y, int64_t n) {
  int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o < n) y[o] = x[permute_source(map, o)];
}

__global__ void permute_backward_kernel(PermuteMap map, const float* dy, float* dx, int64_t n) {
  int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o < n) dx[permute_source(map, o)] += dy[o];
}

}  // namespace

void permute_forward_cuda(const PermuteMap& map, const float* x, float* y, int64_t n) {
  if (n == 0) return;
  permute_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(map, x, y, n);
  CUDA_CHECK_LAUNCH();
}

void permute_backward_cuda(const PermuteMap& map, const float* dy, float* dx, int64_t n) {
  if (n == 0) return;
  permute_backward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(map, dy, dx, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
