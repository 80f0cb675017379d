// Dense 2-D convolution, channels-last, with PyTorch semantics (torch.nn.functional.conv2d on NCHW data).
//   x: (N, H, W, Ci)            activations, channels-last
//   w: (Co, Ci/G, kh, kw)       PyTorch weight layout, G = groups
//   b: (Co) or undefined        bias
//   y: (N, Ho, Wo, Co)          Ho = (H + 2*pad_h - kh) / stride_h + 1 (floor), Wo likewise
//   y[n,oy,ox,co] = b[co] + sum_{ci,ky,kx} x[n, oy*sh - ph + ky, ox*sw - pw + kx, g*Ci/G + ci] * w[co,ci,ky,kx]
//   with g = co / (Co/G); zero padding, dilation 1. Input rows/columns past the last full window are
//   dropped (e.g. the audio stem: kernel (2,16), stride (2,16) on W = 35 uses only the first 32 frames).
// Backward accumulates into dx, dw and db.
// CPU: im2col (one patch row per output pixel, columns in weight order (ci, ky, kx)) + one OpenBLAS GEMM
//      per group for y, dcol (then col2im scatter-add into dx) and dw. CUDA: direct kernels.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace engine::ops {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
};

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);

// Sizes of one convolution, resolved from the shapes and parameters.
struct Conv2dDims {
  int64_t N, H, W, Ci, Ho, Wo, Co, kh, kw;
  int64_t sh, sw, ph, pw, G;
};

#ifdef ENGINE_CUDA
// y = conv(x, w) + b (b may be null).
void conv2d_forward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* b, float* y);
// dx += conv^T(dy, w) (if dx); dw += corr(x, dy) (if dw); db += sum over N, Ho, Wo of dy (if db).
void conv2d_backward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          float* db);
#endif

}  // namespace engine::ops
