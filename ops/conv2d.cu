// Direct CUDA kernels for conv2d (semantics in ops/conv2d.h). Simple and obviously correct; every index is
// int64 and every thread checks its bounds.
//   forward: one thread per output element, looping over the (ci, ky, kx) window
//   dx:      one thread per input element, gathering from the output pixels whose window covers it
//   dw:      one block per weight element, threads sum over the N*Ho*Wo output pixels, block reduce
//   db:      one block per output channel, same reduction
#include <algorithm>

#include "engine/cuda_context.h"
#include "ops/conv2d.h"

namespace engine::ops {

namespace {

constexpr int kBlock = 256;

// Sum of v over the block (blockDim.x == kBlock); every thread gets the result. The trailing barrier
// lets the caller use it again in a loop.
__device__ float block_sum(float v) {
  __shared__ float s[kBlock];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  float r = s[0];
  __syncthreads();
  return r;
}

__global__ void conv2d_forward_kernel(Conv2dDims d, const float* x, const float* w, const float* b, float* y) {
  const int64_t total = d.N * d.Ho * d.Wo * d.Co;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int64_t Cig = d.Ci / d.G, Cog = d.Co / d.G;
  const int64_t co = idx % d.Co;
  const int64_t m = idx / d.Co;  // output pixel (n, oy, ox)
  const int64_t ox = m % d.Wo, oy = (m / d.Wo) % d.Ho, n = m / (d.Wo * d.Ho);
  const int64_t g = co / Cog;
  const float* wrow = w + co * Cig * d.kh * d.kw;  // (Cig, kh, kw)
  float acc = b ? b[co] : 0.f;
  for (int64_t ky = 0; ky < d.kh; ++ky) {
    const int64_t iy = oy * d.sh - d.ph + ky;
    if (iy < 0 || iy >= d.H) continue;
    for (int64_t kx = 0; kx < d.kw; ++kx) {
      const int64_t ix = ox * d.sw - d.pw + kx;
      if (ix < 0 || ix >= d.W) continue;
      const float* px = x + ((n * d.H + iy) * d.W + ix) * d.Ci + g * Cig;  // (Cig)
      for (int64_t ci = 0; ci < Cig; ++ci) acc += px[ci] * wrow[(ci * d.kh + ky) * d.kw + kx];
    }
  }
  y[idx] = acc;
}

// Input pixel (iy, ix) is tap (ky, kx) of output pixel (oy, ox) when oy*sh - ph + ky == iy, i.e. when
// iy + ph - ky is a non-negative multiple of sh below Ho*sh (likewise for x).
__global__ void conv2d_dx_kernel(Conv2dDims d, const float* w, const float* dy, float* dx) {
  const int64_t total = d.N * d.H * d.W * d.Ci;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= total) return;
  const int64_t Cig = d.Ci / d.G, Cog = d.Co / d.G;
  const int64_t ci = idx % d.Ci;
  const int64_t t = idx / d.Ci;  // input pixel (n, iy, ix)
  const int64_t ix = t % d.W, iy = (t / d.W) % d.H, n = t / (d.W * d.H);
  const int64_t g = ci / Cig, cil = ci % Cig;
  const int64_t wstride = Cig * d.kh * d.kw;  // between consecutive output channels of w
  float acc = 0.f;
  for (int64_t ky = 0; ky < d.kh; ++ky) {
    const int64_t ty = iy + d.ph - ky;
    if (ty < 0 || ty % d.sh != 0) continue;
    const int64_t oy = ty / d.sh;
    if (oy >= d.Ho) continue;
    for (int64_t kx = 0; kx < d.kw; ++kx) {
      const int64_t tx = ix + d.pw - kx;
      if (tx < 0 || tx % d.sw != 0) continue;
      const int64_t ox = tx / d.sw;
      if (ox >= d.Wo) continue;
      const float* dyp = dy + ((n * d.Ho + oy) * d.Wo + ox) * d.Co + g * Cog;        // (Cog)
      const float* wp = w + (g * Cog * Cig + cil) * d.kh * d.kw + ky * d.kw + kx;    // stride wstride
      for (int64_t co = 0; co < Cog; ++co) acc += dyp[co] * wp[co * wstride];
    }
  }
  dx[idx] += acc;
}

__global__ void conv2d_dw_kernel(Conv2dDims d, const float* x, const float* dy, float* dw) {
  const int64_t Cig = d.Ci / d.G, Cog = d.Co / d.G;
  const int64_t nw = d.Co * Cig * d.kh * d.kw;
  const int64_t M = d.N * d.Ho * d.Wo;
  for (int64_t e = blockIdx.x; e < nw; e += gridDim.x) {  // uniform per block: the barriers are safe
    const int64_t kx = e % d.kw, ky = (e / d.kw) % d.kh, cil = (e / (d.kw * d.kh)) % Cig;
    const int64_t co = e / (d.kw * d.kh * Cig);
    const int64_t ci = (co / Cog) * Cig + cil;
    float acc = 0.f;
    for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
      const int64_t ox = m % d.Wo, oy = (m / d.Wo) % d.Ho, n = m / (d.Wo * d.Ho);
      const int64_t iy = oy * d.sh - d.ph + ky, ix = ox * d.sw - d.pw + kx;
      if (iy < 0 || iy >= d.H || ix < 0 || ix >= d.W) continue;
      acc += x[((n * d.H + iy) * d.W + ix) * d.Ci + ci] * dy[m * d.Co + co];
    }
    const float s = block_sum(acc);
    if (threadIdx.x == 0) dw[e] += s;
  }
}

__global__ void conv2d_db_kernel(Conv2dDims d, const float* dy, float* db) {
  const int64_t M = d.N * d.Ho * d.Wo;
  for (int64_t co = blockIdx.x; co < d.Co; co += gridDim.x) {
    float acc = 0.f;
    for (int64_t m = threadIdx.x; m < M; m += blockDim.x) acc += dy[m * d.Co + co];
    const float s = block_sum(acc);
    if (threadIdx.x == 0) db[co] += s;
  }
}

unsigned blocks_for(int64_t items) { return unsigned(std::max<int64_t>(1, std::min<int64_t>(items, 1 << 20))); }

}  // namespace

void conv2d_forward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* b, float* y) {
  const int64_t total = d.N * d.Ho * d.Wo * d.Co;
  if (total == 0) return;
  conv2d_forward_kernel<<<cuda::grid_for(total, kBlock), kBlock, 0, cuda::stream()>>>(d, x, w, b, y);
  CUDA_CHECK_LAUNCH();
}

void conv2d_backward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          float* db) {
  if (dx) {
    const int64_t total = d.N * d.H * d.W * d.Ci;
    conv2d_dx_kernel<<<cuda::grid_for(total, kBlock), kBlock, 0, cuda::stream()>>>(d, w, dy, dx);
    CUDA_CHECK_LAUNCH();
  }
  if (dw) {
    const int64_t nw = d.Co * (d.Ci / d.G) * d.kh * d.kw;
    conv2d_dw_kernel<<<blocks_for(nw), kBlock, 0, cuda::stream()>>>(d, x, dy, dw);
    CUDA_CHECK_LAUNCH();
  }
  if (db) {
    conv2d_db_kernel<<<blocks_for(d.Co), kBlock, 0, cuda::stream()>>>(d, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace engine::ops
