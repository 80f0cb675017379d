// Depthwise conv2d on CUDA: simple, obviously-correct kernels (the speed issue replaces them).
//   forward : one thread per output element (n, ho, wo, c), c fastest so loads are coalesced over C.
//   dx      : one thread per input element, gathering the outputs each tap touched.
//   dw, db  : one block per (32 channels, tap); threads.y stride over the N*Ho*Wo output pixels, then a
//             shared-memory sum. Each block owns its weights, so no atomics and the result is deterministic.
#include "engine/cuda_context.h"
#include "ops/depthwise_conv2d.h"

namespace engine::ops {

namespace {

constexpr int kThreads = 256;
constexpr int kChanTile = 32;  // threads.x: channels of one block in the dw/db kernels
constexpr int kRowTile = 8;    // threads.y: output pixels summed in parallel

__global__ void depthwise_forward_kernel(DepthwiseDims d, const float* x, const float* w, const float* b, float* y) {
  const int64_t total = d.N * d.Ho * d.Wo * d.C;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int64_t c = i % d.C;
  int64_t t = i / d.C;
  const int64_t wo = t % d.Wo;
  t /= d.Wo;
  const int64_t ho = t % d.Ho;
  const int64_t n = t / d.Ho;
  const float* wc = w + c * d.KH * d.KW;  // (KH, KW) of channel c
  float acc = b ? b[c] : 0.f;
  for (int64_t r = 0; r < d.KH; ++r) {
    const int64_t hi = ho * d.sh - d.ph + r;
    if (hi < 0 || hi >= d.H) continue;
    for (int64_t s = 0; s < d.KW; ++s) {
      const int64_t wi = wo * d.sw - d.pw + s;
      if (wi < 0 || wi >= d.W) continue;
      acc += x[((n * d.H + hi) * d.W + wi) * d.C + c] * wc[r * d.KW + s];
    }
  }
  y[i] = acc;
}

__global__ void depthwise_input_grad_kernel(DepthwiseDims d, const float* w, const float* dy, float* dx) {
  const int64_t total = d.N * d.H * d.W * d.C;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int64_t c = i % d.C;
  int64_t t = i / d.C;
  const int64_t wi = t % d.W;
  t /= d.W;
  const int64_t hi = t % d.H;
  const int64_t n = t / d.H;
  const float* wc = w + c * d.KH * d.KW;  // (KH, KW) of channel c
  float acc = 0.f;
  for (int64_t r = 0; r < d.KH; ++r) {
    const int64_t th = hi + d.ph - r;  // = ho * sh
    if (th < 0 || th % d.sh != 0 || th / d.sh >= d.Ho) continue;
    const int64_t ho = th / d.sh;
    for (int64_t s = 0; s < d.KW; ++s) {
      const int64_t tw = wi + d.pw - s;  // = wo * sw
      if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.Wo) continue;
      acc += dy[((n * d.Ho + ho) * d.Wo + tw / d.sw) * d.C + c] * wc[r * d.KW + s];
    }
  }
  dx[i] += acc;
}

// grid (ceil(C / 32), KH * KW), block (32, 8).
__global__ void depthwise_weight_grad_kernel(DepthwiseDims d, const float* x, const float* dy, float* dw) {
  __shared__ float part[kRowTile][kChanTile];
  const int64_t c = int64_t(blockIdx.x) * kChanTile + threadIdx.x;
  const int64_t tap = blockIdx.y;
  const int64_t r = tap / d.KW, s = tap % d.KW;
  const int64_t P = d.N * d.Ho * d.Wo;
  float acc = 0.f;
  if (c < d.C) {
    for (int64_t p = threadIdx.y; p < P; p += kRowTile) {
      const int64_t wo = p % d.Wo;
      const int64_t t = p / d.Wo;
      const int64_t ho = t % d.Ho;
      const int64_t n = t / d.Ho;
      const int64_t hi = ho * d.sh - d.ph + r;
      const int64_t wi = wo * d.sw - d.pw + s;
      if (hi < 0 || hi >= d.H || wi < 0 || wi >= d.W) continue;
      acc += dy[p * d.C + c] * x[((n * d.H + hi) * d.W + wi) * d.C + c];
    }
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < d.C) {
    float sum = 0.f;
    for (int j = 0; j < kRowTile; ++j) sum += part[j][threadIdx.x];
    dw[c * d.KH * d.KW + tap] += sum;
  }
}

// grid ceil(C / 32), block (32, 8).
__global__ void depthwise_bias_grad_kernel(DepthwiseDims d, const float* dy, float* db) {
  __shared__ float part[kRowTile][kChanTile];
  const int64_t c = int64_t(blockIdx.x) * kChanTile + threadIdx.x;
  const int64_t P = d.N * d.Ho * d.Wo;
  float acc = 0.f;
  if (c < d.C)
    for (int64_t p = threadIdx.y; p < P; p += kRowTile) acc += dy[p * d.C + c];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < d.C) {
    float sum = 0.f;
    for (int j = 0; j < kRowTile; ++j) sum += part[j][threadIdx.x];
    db[c] += sum;
  }
}

}  // namespace

void depthwise_forward_cuda(const DepthwiseDims& d, const float* x, const float* w, const float* b, float* y) {
  const int64_t total = d.N * d.Ho * d.Wo * d.C;
  if (total == 0) return;
  depthwise_forward_kernel<<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(d, x, w, b, y);
  CUDA_CHECK_LAUNCH();
}

void depthwise_backward_cuda(const DepthwiseDims& d, const float* x, const float* w, const float* dy, float* dx,
                             float* dw, float* db) {
  if (d.N * d.Ho * d.Wo * d.C == 0) return;
  if (dx) {
    const int64_t total = d.N * d.H * d.W * d.C;
    depthwise_input_grad_kernel<<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(d, w, dy, dx);
    CUDA_CHECK_LAUNCH();
  }
  const unsigned chan_blocks = unsigned((d.C + kChanTile - 1) / kChanTile);
  if (dw) {
    ENGINE_CHECK(d.KH * d.KW <= 65535, "depthwise kernel with ", d.KH * d.KW, " taps exceeds the grid.y limit");
    dim3 grid(chan_blocks, unsigned(d.KH * d.KW));
    depthwise_weight_grad_kernel<<<grid, dim3(kChanTile, kRowTile), 0, cuda::stream()>>>(d, x, dy, dw);
    CUDA_CHECK_LAUNCH();
  }
  if (db) {
    depthwise_bias_grad_kernel<<<chan_blocks, dim3(kChanTile, kRowTile), 0, cuda::stream()>>>(d, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace engine::ops
