#include "ops/activation.h"

#include <type_traits>

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

// f(std::integral_constant<Unary, op>) for the runtime op, so that each loop is compiled for one op (no
// switch per element; the relu-like ones vectorise).
template <class F>
void with_unary(Unary op, F&& f) {
  switch (op) {
    case Unary::relu: return f(std::integral_constant<Unary, Unary::relu>());
    case Unary::gelu: return f(std::integral_constant<Unary, Unary::gelu>());
    case Unary::sigmoid: return f(std::integral_constant<Unary, Unary::sigmoid>());
    case Unary::squared_relu: return f(std::integral_constant<Unary, Unary::squared_relu>());
  }
}

template <class T>
void unary_forward_cpu(Unary op, const T* x, T* y, int64_t n) {
  with_unary(op, [&](auto kind) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = unary_value(kind.value, x[i]);
  });
}

template <class T>
void unary_backward_cpu(Unary op, const T* x, const T* dy, T* dx, int64_t n) {
  with_unary(op, [&](auto kind) {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * unary_derivative(kind.value, x[i]);
  });
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
