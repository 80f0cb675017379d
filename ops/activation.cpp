#include "ops/activation.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu_dispatch.h"

#if ENGINE_HAS_LIBMVEC
// glibc's vector variants (libmvec), declared as its math.h declares them under -ffast-math: in a SIMD loop
// GCC calls _ZGVeN16v_erff and the like, for the instruction set of each clone.
extern "C" {
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
float expf(float);
}
#endif

#include "engine/autograd.h"
#include "ops/activation_math.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(relu);
ENGINE_REGISTER_OP(gelu);
ENGINE_REGISTER_OP(sigmoid);
ENGINE_REGISTER_OP(squared_relu);
ENGINE_REGISTER_OP(star_relu);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void unary_forward_cpu(Unary op, const T* x, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = unary_value(op, x[i]);
}

template <class T>
void unary_backward_cpu(Unary op, const T* x, const T* dy, T* dx, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * unary_derivative(op, x[i]);
}

// float: one SIMD loop per op (the op a constant in it), compiled once per instruction set; erf and exp
// become calls to glibc's vector erff/expf (libmvec, declared SIMD at the top of this file), about 10x the
// scalar calls, which were 40% of a ConvNeXt training step. Parallel over chunks, outside the clones.
#define ENGINE_UNARY_LOOP(OP, STATEMENT)     \
  case Unary::OP: {                          \
    constexpr Unary op = Unary::OP;          \
    _Pragma("omp simd") for (int64_t i = 0; i < n; ++i) STATEMENT; \
    return;                                  \
  }

ENGINE_CPU_CLONES void unary_forward_f32_chunk(Unary kind, const float* x, float* y, int64_t n) {
  switch (kind) {
    ENGINE_UNARY_LOOP(relu, y[i] = unary_value(op, x[i]))
    ENGINE_UNARY_LOOP(gelu, y[i] = unary_value(op, x[i]))
    ENGINE_UNARY_LOOP(sigmoid, y[i] = unary_value(op, x[i]))
    ENGINE_UNARY_LOOP(squared_relu, y[i] = unary_value(op, x[i]))
  }
}

ENGINE_CPU_CLONES void unary_backward_f32_chunk(Unary kind, const float* x, const float* dy, float* dx, int64_t n) {
  switch (kind) {
    ENGINE_UNARY_LOOP(relu, dx[i] += dy[i] * unary_derivative(op, x[i]))
    ENGINE_UNARY_LOOP(gelu, dx[i] += dy[i] * unary_derivative(op, x[i]))
    ENGINE_UNARY_LOOP(sigmoid, dx[i] += dy[i] * unary_derivative(op, x[i]))
    ENGINE_UNARY_LOOP(squared_relu, dx[i] += dy[i] * unary_derivative(op, x[i]))
  }
}
#undef ENGINE_UNARY_LOOP

constexpr int64_t kUnaryChunk = 16384;

template <>
void unary_forward_cpu<float>(Unary op, const float* x, float* y, int64_t n) {
  const int64_t chunks = (n + kUnaryChunk - 1) / kUnaryChunk;
#pragma omp parallel for if (n > 65536)
  for (int64_t c = 0; c < chunks; ++c)
    unary_forward_f32_chunk(op, x + c * kUnaryChunk, y + c * kUnaryChunk, std::min(kUnaryChunk, n - c * kUnaryChunk));
}

template <>
void unary_backward_cpu<float>(Unary op, const float* x, const float* dy, float* dx, int64_t n) {
  const int64_t chunks = (n + kUnaryChunk - 1) / kUnaryChunk;
#pragma omp parallel for if (n > 65536)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t o = c * kUnaryChunk;
    unary_backward_f32_chunk(op, x + o, dy + o, dx + o, std::min(kUnaryChunk, n - o));
  }
}

template <class T>
void star_relu_forward_cpu(const T* x, T s, T b, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    T r = x[i] > T(0) ? x[i] : T(0);
    y[i] = s * r * r + b;
  }
}

template <class T>
void star_relu_backward_cpu(const T* x, T s, const T* dy, T* dx, T* ds, T* db, int64_t n) {
  T sum_s = 0, sum_b = 0;
  for (int64_t i = 0; i < n; ++i) {
    T r = x[i] > T(0) ? x[i] : T(0);
    if (dx) dx[i] += dy[i] * s * T(2) * r;
    sum_s += dy[i] * r * r;
    sum_b += dy[i];
  }
  if (ds) *ds += sum_s;
  if (db) *db += sum_b;
}

// ---- dispatch -----------------------------------------------------------------------------------

void unary_forward(Unary op, const Tensor& x, Tensor& y) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    unary_forward_cuda(op, x.data<float>(), y.data<float>(), x.numel());
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    unary_forward_cpu<T>(op, x.data<T>(), y.data<T>(), x.numel());
  });
}

void unary_backward(Unary op, const Tensor& x, const Tensor& dy, Tensor& dx) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    unary_backward_cuda(op, x.data<float>(), dy.data<float>(), dx.data<float>(), x.numel());
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    unary_backward_cpu<T>(op, x.data<T>(), dy.data<T>(), dx.data<T>(), x.numel());
  });
}

Tensor unary(Unary op, const Tensor& x) {
  check_float_op("activation", {&x});
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // same shape as x
  unary_forward(op, x, y);
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([op, x, y]() mutable {
      Tensor dy = y.grad();
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();
      unary_backward(op, x, dy, dx);
    });
  }
  return y;
}

}  // namespace

Tensor relu(const Tensor& x) { return unary(Unary::relu, x); }
Tensor gelu(const Tensor& x) { return unary(Unary::gelu, x); }
Tensor sigmoid(const Tensor& x) { return unary(Unary::sigmoid, x); }
Tensor squared_relu(const Tensor& x) { return unary(Unary::squared_relu, x); }

Tensor star_relu(const Tensor& x, const Tensor& scale, const Tensor& bias) {
  check_float_op("star_relu", {&x, &scale, &bias});
  check_shape(scale, {1}, "star_relu scale");
  check_shape(bias, {1}, "star_relu bias");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  int64_t n = x.numel();
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    star_relu_forward_cuda(x.data<float>(), scale.data<float>(), bias.data<float>(), y.data<float>(), n);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      star_relu_forward_cpu<T>(x.data<T>(), scale.data<T>()[0], bias.data<T>()[0], y.data<T>(), n);
    });
  }
  if (autograd::needs_grad({&x, &scale, &bias})) {
    y.set_requires_grad(true);
    autograd::record([x, scale, bias, y, n]() mutable {
      Tensor dy = y.grad();
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);
      Tensor ds = grad_if_required(scale);
      Tensor db = grad_if_required(bias);
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        star_relu_backward_cuda(x.data<float>(), scale.data<float>(), dy.data<float>(),
                                data_or_null<float>(dx), data_or_null<float>(ds), data_or_null<float>(db), n);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        star_relu_backward_cpu<T>(x.data<T>(), scale.data<T>()[0], dy.data<T>(),
                                  data_or_null<T>(dx), data_or_null<T>(ds), data_or_null<T>(db), n);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
