// Pointwise activations (any shape). Backward accumulates into the input gradient.
//   relu(x)         = max(x, 0)
//   gelu(x)         = x * Phi(x), exact (erf) form, as torch.nn.GELU()
//   sigmoid(x)      = 1 / (1 + exp(-x))
//   squared_relu(x) = relu(x)^2                     (MetaFormer SquaredReLU)
//   star_relu(x)    = scale * relu(x)^2 + bias      (MetaFormer StarReLU; scale, bias: learnable, shape [1])
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor squared_relu(const Tensor& x);
Tensor star_relu(const Tensor& x, const Tensor& scale, const Tensor& bias);

enum class Unary : int { relu = 0, gelu = 1, sigmoid = 2, squared_relu = 3 };

#ifdef ENGINE_CUDA
void unary_forward_cuda(Unary op, const float* x, float* y, int64_t n);
void unary_backward_cuda(Unary op, const float* x, const float* dy, float* dx, int64_t n);
// y = s*relu(x)^2 + b; scale/bias are device scalars.
void star_relu_forward_cuda(const float* x, const float* scale, const float* bias, float* y, int64_t n);
// dx += dy*s*2relu(x) (if dx); dscale += sum(dy*relu(x)^2) (if dscale); dbias += sum(dy) (if dbias).
void star_relu_backward_cuda(const float* x, const float* scale, const float* dy, float* dx, float* dscale,
                             float* dbias, int64_t n);
#endif

}  // namespace engine::ops
