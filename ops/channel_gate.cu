#include "engine/cuda_context.h"
#include "ops/channel_gate.h"

namespace engine::ops {

namespace {

__global__ void channel_gate_forward_kernel(const float* x, const float* s, float* y, int64_t n, int64_t HW,
                                            int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] * s[(i / (HW * C)) * C + i % C];
}

__global__ void channel_gate_dx_kernel(const float* s, const float* dy, float* dx, int64_t n, int64_t HW, int64_t C) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] += dy[i] * s[(i / (HW * C)) * C + i % C];
}

// ds: block (32 channels along threadIdx.x, coalesced; 8 position lanes along threadIdx.y) per
// (channel tile, sample n = blockIdx.y). The lanes are summed in shared memory; one block owns each
// ds[n, c], so no atomics are needed.
constexpr int kChanTile = 32;
constexpr int kPosLanes = 8;

__global__ void channel_gate_ds_kernel(const float* x, const float* dy, float* ds, int64_t HW, int64_t C) {
  __shared__ float partial[kPosLanes][kChanTile];
  const int64_t c = int64_t(blockIdx.x) * kChanTile + threadIdx.x;
  const int64_t n = blockIdx.y;
  float acc = 0.f;
  if (c < C) {
    for (int64_t p = threadIdx.y; p < HW; p += kPosLanes) acc += dy[(n * HW + p) * C + c] * x[(n * HW + p) * C + c];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float sum = 0.f;
    for (int l = 0; l < kPosLanes; ++l) sum += partial[l][threadIdx.x];
    ds[n * C + c] += sum;
  }
}

}  // namespace

void channel_gate_forward_cuda(const float* x, const float* s, float* y, int64_t N, int64_t HW, int64_t C) {
  const int64_t n = N * HW * C;
  if (n == 0) return;
  channel_gate_forward_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(x, s, y, n, HW, C);
  CUDA_CHECK_LAUNCH();
}

void channel_gate_backward_cuda(const float* x, const float* s, const float* dy, float* dx, float* ds, int64_t N,
                                int64_t HW, int64_t C) {
  const int64_t n = N * HW * C;
  if (n == 0) return;
  if (dx) {
    channel_gate_dx_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(s, dy, dx, n, HW, C);
    CUDA_CHECK_LAUNCH();
  }
  if (ds) {
    dim3 grid(cuda::grid_for(C, kChanTile), unsigned(N));
    dim3 block(kChanTile, kPosLanes);
    channel_gate_ds_kernel<<<grid, block, 0, cuda::stream()>>>(x, dy, ds, HW, C);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace engine::ops
