#include "ops/attention.h"

#include <cmath>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/matmul.h"
#include "ops/registry.h"
#include "ops/softmax.h"

ENGINE_REGISTER_OP(self_attention);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Token-major (N, T, S, H, D) <-> heads-major (S, N, H, T, D). (scalar_t: T names the token count.)

template <class scalar_t>
void split_heads_cpu(const scalar_t* src, scalar_t* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D) {
#pragma omp parallel for collapse(2) if (N * T * S * H * D > 65536)
  for (int64_t s = 0; s < S; ++s)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < D; ++d)
            dst[(((s * N + n) * H + h) * T + t) * D + d] = src[(((n * T + t) * S + s) * H + h) * D + d];
}

template <class scalar_t>
void merge_heads_cpu(const scalar_t* src, scalar_t* dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D,
                     bool accumulate) {
#pragma omp parallel for collapse(2) if (N * T * S * H * D > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d) {
            scalar_t v = src[(((s * N + n) * H + h) * T + t) * D + d];
            scalar_t& o = dst[(((n * T + t) * S + s) * H + h) * D + d];
            o = accumulate ? o + v : v;
          }
}

// ---- dispatch -----------------------------------------------------------------------------------

void split_heads(const Tensor& src, Tensor& dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D) {
  if (src.is_cuda()) {
#ifdef ENGINE_CUDA
    split_heads_cuda(src.data<float>(), dst.data<float>(), N, T, S, H, D);
#endif
    return;
  }
  dispatch_cpu_float(src.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    split_heads_cpu<scalar_t>(src.data<scalar_t>(), dst.data<scalar_t>(), N, T, S, H, D);
  });
}

void merge_heads(const Tensor& src, Tensor& dst, int64_t N, int64_t T, int64_t S, int64_t H, int64_t D,
                 bool accumulate) {
  if (src.is_cuda()) {
#ifdef ENGINE_CUDA
    merge_heads_cuda(src.data<float>(), dst.data<float>(), N, T, S, H, D, accumulate);
#endif
    return;
  }
  dispatch_cpu_float(src.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    merge_heads_cpu<scalar_t>(src.data<scalar_t>(), dst.data<scalar_t>(), N, T, S, H, D, accumulate);
  });
}

// The i-th of t's equal consecutive blocks of the given shape, sharing t's storage (no autograd).
Tensor block_view(const Tensor& t, int64_t i, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  ENGINE_CHECK((i + 1) * n <= t.numel(), "block ", i, " of shape ", shape_str(shape), " outside ", shape_str(t.shape()));
  auto v = std::make_shared<TensorImpl>();
  v->storage = t.impl().storage;
  v->offset = t.impl().offset + size_t(i * n) * dtype_size(t.dtype());
  v->shape = shape;
  v->dtype = t.dtype();
  return Tensor(std::move(v));
}

}  // namespace

Tensor self_attention(const Tensor& qkv, int heads) {
  check_float_op("self_attention", {&qkv});
  USER_CHECK(qkv.dim() == 3, "self_attention: qkv must be (N, T, 3*C), got ", shape_str(qkv.shape()));
  USER_CHECK(heads > 0 && qkv.size(2) > 0 && qkv.size(2) % (3 * int64_t(heads)) == 0, "self_attention: qkv width ",
             qkv.size(2), " is not 3 * heads * D for heads = ", heads);
  const int64_t N = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, H = heads, D = C / H;
  const int64_t B = N * H;  // independent (T, T) attention problems
  const double scale = 1.0 / std::sqrt(double(D));
  const Shape heads_shape{N, H, T, D};

  Tensor qkvh = Tensor::empty({3, N, H, T, D}, qkv.dtype(), qkv.device());  // q, k, v heads-major
  split_heads(qkv, qkvh, N, T, 3, H, D);
  Tensor q = block_view(qkvh, 0, heads_shape);  // (N, H, T, D)
  Tensor k = block_view(qkvh, 1, heads_shape);  // (N, H, T, D)
  Tensor v = block_view(qkvh, 2, heads_shape);  // (N, H, T, D)

  // P = softmax(scale * q @ k^T), computed in place.
  Tensor P = Tensor::empty({N, H, T, T}, qkv.dtype(), qkv.device());  // (N, H, T, T)
  gemm(GemmShape{false, true, T, T, D, B, T * D, T * D, T * T}, scale, q, k, 0.0, P);
  softmax_rows_forward(P, P);

  Tensor o = Tensor::empty(heads_shape, qkv.dtype(), qkv.device());  // (N, H, T, D) = P @ v
  gemm(GemmShape{false, false, T, D, T, B, T * T, T * D, T * D}, 1.0, P, v, 0.0, o);
  Tensor out = Tensor::empty({N, T, C}, qkv.dtype(), qkv.device());  // (N, T, C)
  merge_heads(o, out, N, T, 1, H, D, false);

  if (autograd::needs_grad({&qkv})) {
    out.set_requires_grad(true);
    autograd::record([qkv, out, qkvh, P, N, T, H, D, B, scale, heads_shape]() {
      Tensor dout = out.grad();  // (N, T, C)
      if (!dout.defined()) return;
      Tensor q = block_view(qkvh, 0, heads_shape);  // (N, H, T, D)
      Tensor k = block_view(qkvh, 1, heads_shape);
      Tensor v = block_view(qkvh, 2, heads_shape);
      Tensor d_o = Tensor::empty(heads_shape, dout.dtype(), dout.device());  // (N, H, T, D)
      split_heads(dout, d_o, N, T, 1, H, D);

      Tensor dqkvh = Tensor::empty({3, N, H, T, D}, dout.dtype(), dout.device());  // dq, dk, dv heads-major
      Tensor dq = block_view(dqkvh, 0, heads_shape);  // (N, H, T, D)
      Tensor dk = block_view(dqkvh, 1, heads_shape);
      Tensor dv = block_view(dqkvh, 2, heads_shape);
      // dv = P^T @ do
      gemm(GemmShape{true, false, T, D, T, B, T * T, T * D, T * D}, 1.0, P, d_o, 0.0, dv);
      // dP = do @ v^T
      Tensor dP = Tensor::empty({N, H, T, T}, dout.dtype(), dout.device());  // (N, H, T, T)
      gemm(GemmShape{false, true, T, T, D, B, T * D, T * D, T * T}, 1.0, d_o, v, 0.0, dP);
      // dS = P * (dP - rowsum(dP * P)): the gradient of the scaled scores
      Tensor dS = Tensor::zeros({N, H, T, T}, dout.dtype(), dout.device());  // (N, H, T, T)
      softmax_rows_backward(P, dP, dS);
      // S = scale * q @ k^T:  dq = scale * dS @ k,  dk = scale * dS^T @ q
      gemm(GemmShape{false, false, T, D, T, B, T * T, T * D, T * D}, scale, dS, k, 0.0, dq);
      gemm(GemmShape{true, false, T, D, T, B, T * T, T * D, T * D}, scale, dS, q, 0.0, dk);

      Tensor dqkv = qkv.grad_or_zeros();  // (N, T, 3*C)
      merge_heads(dqkvh, dqkv, N, T, 3, H, D, true);
    });
  }
  return out;
}

}  // namespace engine::ops
