// Depthwise 2-D convolution (groups = channels), channels-last, as torch.nn.functional.conv2d with
// groups = C (cross-correlation, zero padding, dilation 1):
//   y[n,ho,wo,c] = b[c] + sum_{r<kh, s<kw} w[c,0,r,s] * xpad[n, ho*stride_h + r, wo*stride_w + s, c]
// where xpad is x with pad_h zero rows above and below and pad_w zero columns left and right, and
//   Ho = (H + 2*pad_h - kh) / stride_h + 1,   Wo = (W + 2*pad_w - kw) / stride_w + 1.
// Shapes: x (N, H, W, C), w (C, 1, kh, kw) (PyTorch layout), b (C) or undefined, y (N, Ho, Wo, C).
// Backward accumulates dx, dw, db:
//   dx[n,h,x,c] += sum over taps (r,s) with h = ho*stride_h - pad_h + r, x = wo*stride_w - pad_w + s of dy * w
//   dw[c,0,r,s] += sum_{n,ho,wo} dy[n,ho,wo,c] * xpad[n, ho*stride_h + r, wo*stride_w + s, c]
//   db[c]       += sum_{n,ho,wo} dy[n,ho,wo,c]
// The CPU code keeps the channel dimension innermost (contiguous in x, y and in a (kh, kw, C) copy of w)
// so every tap is one vectorised multiply-add over C.
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

struct DepthwiseParams {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const DepthwiseParams& p);

// Sizes of one call, shared by the CPU and CUDA implementations.
struct DepthwiseDims {
  int64_t N, H, W, C, KH, KW, Ho, Wo;
  int sh, sw, ph, pw;
};

#ifdef ENGINE_CUDA
// y = conv(x, w) (+ b if non-null); w in PyTorch layout (C, 1, kh, kw).
void depthwise_forward_cuda(const DepthwiseDims& d, const float* x, const float* w, const float* b, float* y);
// Each non-null gradient is accumulated (+=).
void depthwise_backward_cuda(const DepthwiseDims& d, const float* x, const float* w, const float* dy, float* dx,
                             float* dw, float* db);
#endif

}  // namespace engine::ops
