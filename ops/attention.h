// Multi-head self-attention core (FastViT / timm Attention between its qkv and proj linears).
//   self_attention(qkv, heads): qkv (N, T, 3*C) -> out (N, T, C),  D = C / heads
//     q, k, v = qkv.reshape(N, T, 3, heads, D).permute(2, 0, 3, 1, 4)      each (N, heads, T, D)
//     P       = softmax((q * D^-0.5) @ k^T)                                 (N, heads, T, T)
//     out     = (P @ v).transpose(1, 2).reshape(N, T, C)
// One op with its own backward (gradient w.r.t. qkv); it keeps q, k, v (heads-major) and P for it.
// Internally: a permute of qkv into heads-major blocks, batched GEMMs (ops/matmul.h) and the softmax
// row kernels (ops/softmax.h).
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor self_attention(const Tensor& qkv, int heads);

#ifdef ENGINE_CUDA
// Token-major (N, T, S, H, D) <-> heads-major (S, N, H, T, D); S = 3 for q/k/v, 1 for the output.
// dst = permute(src)
void split_heads_cuda(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D);
// dst (=, or += when accumulate) inverse permute(src)
void merge_heads_cuda(const float* src, float* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D,
                      bool accumulate);
#endif

}  // namespace engine::ops
