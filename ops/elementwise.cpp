#include "ops/elementwise.h"

#include <vector>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(add);
ENGINE_REGISTER_OP(mul);
ENGINE_REGISTER_OP(scale_channels);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void add_forward_cpu(const T* a, const T* b, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <class T>
void mul_forward_cpu(const T* a, const T* b, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

template <class T>
void mul_backward_cpu(const T* a, const T* b, const T* dy, T* da, T* db, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    if (da) da[i] += dy[i] * b[i];
    if (db) db[i] += dy[i] * a[i];
  }
}

template <class T>
void scale_channels_forward_cpu(const T* x, const T* g, T* y, int64_t rows, int64_t C) {
#pragma omp parallel for if (rows * C > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] * g[c];
}

template <class T>
void scale_channels_backward_cpu(const T* x, const T* g, const T* dy, T* dx, T* dg, int64_t rows, int64_t C) {
  if (dx) {
#pragma omp parallel for if (rows * C > 65536)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < C; ++c) dx[r * C + c] += dy[r * C + c] * g[c];
  }
  if (dg) {
    sum_rows_blocked<T>(rows, C, 1, dg, [&](int64_t r, T* acc) {
      for (int64_t c = 0; c < C; ++c) acc[c] += dy[r * C + c] * x[r * C + c];
    });
  }
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  USER_CHECK(a.shape() == b.shape(), op, ": shapes differ, ", shape_str(a.shape()), " and ", shape_str(b.shape()));
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_float_op("add", {&a, &b});
  check_same_shape("add", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());  // same shape as a
  int64_t n = a.numel();
  if (a.is_cuda()) {
#ifdef ENGINE_CUDA
    add_forward_cuda(a.data<float>(), b.data<float>(), y.data<float>(), n);
#endif
  } else {
    dispatch_cpu_float(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      add_forward_cpu<T>(a.data<T>(), b.data<T>(), y.data<T>(), n);
    });
  }
  if (autograd::needs_grad({&a, &b})) {
    y.set_requires_grad(true);
    autograd::record([a, b, y]() {
      Tensor dy = y.grad();
      if (!dy.defined()) return;
      // d(a+b)/da = d(a+b)/db = 1: the gradient passes through unchanged (CPU or CUDA accumulate).
      if (a.requires_grad()) {
        Tensor da = a.grad_or_zeros();
        autograd::accumulate(da, dy);
      }
      if (b.requires_grad()) {
        Tensor db = b.grad_or_zeros();
        autograd::accumulate(db, dy);
      }
    });
  }
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_float_op("mul", {&a, &b});
  check_same_shape("mul", a, b);
  Tensor y = Tensor::empty(a.shape(), a.dtype(), a.device());  // same shape as a
  int64_t n = a.numel();
  if (a.is_cuda()) {
#ifdef ENGINE_CUDA
    mul_forward_cuda(a.data<float>(), b.data<float>(), y.data<float>(), n);
#endif
  } else {
    dispatch_cpu_float(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      mul_forward_cpu<T>(a.data<T>(), b.data<T>(), y.data<T>(), n);
    });
  }
  if (autograd::needs_grad({&a, &b})) {
    y.set_requires_grad(true);
    autograd::record([a, b, y, n]() {
      Tensor dy = y.grad();
      if (!dy.defined()) return;
      Tensor da = grad_if_required(a);
      Tensor db = grad_if_required(b);
      if (a.is_cuda()) {
#ifdef ENGINE_CUDA
        mul_backward_cuda(a.data<float>(), b.data<float>(), dy.data<float>(), data_or_null<float>(da),
                          data_or_null<float>(db), n);
#endif
        return;
      }
      dispatch_cpu_float(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        mul_backward_cpu<T>(a.data<T>(), b.data<T>(), dy.data<T>(), data_or_null<T>(da), data_or_null<T>(db), n);
      });
    });
  }
  return y;
}

Tensor scale_channels(const Tensor& x, const Tensor& gamma) {
  check_float_op("scale_channels", {&x, &gamma});
  USER_CHECK(x.dim() >= 1, "scale_channels: x must have a channel dimension, got shape ", shape_str(x.shape()));
  int64_t C = x.size(-1);
  int64_t rows = C > 0 ? x.numel() / C : 0;  // every leading dimension flattened
  check_shape(gamma, {C}, "scale_channels gamma");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // (..., C)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    scale_channels_forward_cuda(x.data<float>(), gamma.data<float>(), y.data<float>(), rows, C);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      scale_channels_forward_cpu<T>(x.data<T>(), gamma.data<T>(), y.data<T>(), rows, C);
    });
  }
  if (autograd::needs_grad({&x, &gamma})) {
    y.set_requires_grad(true);
    autograd::record([x, gamma, y, rows, C]() {
      Tensor dy = y.grad();  // (..., C)
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);      // (..., C)
      Tensor dg = grad_if_required(gamma);  // (C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        scale_channels_backward_cuda(x.data<float>(), gamma.data<float>(), dy.data<float>(), data_or_null<float>(dx),
                                     data_or_null<float>(dg), rows, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        scale_channels_backward_cpu<T>(x.data<T>(), gamma.data<T>(), dy.data<T>(), data_or_null<T>(dx),
                                       data_or_null<T>(dg), rows, C);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
