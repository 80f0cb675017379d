#include "ops/softmax.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(softmax);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void softmax_rows_forward_cpu(const T* x, T* y, int64_t R, int64_t L) {
#pragma omp parallel for if (R * L > 65536)
  for (int64_t r = 0; r < R; ++r) {
    const T* xr = x + r * L;
    T* yr = y + r * L;
    T mx = xr[0];
    for (int64_t i = 1; i < L; ++i) mx = std::max(mx, xr[i]);
    T sum = 0;
    for (int64_t i = 0; i < L; ++i) {
      yr[i] = std::exp(xr[i] - mx);
      sum += yr[i];
    }
    T inv = T(1) / sum;
    for (int64_t i = 0; i < L; ++i) yr[i] *= inv;
  }
}

template <class T>
void softmax_rows_backward_cpu(const T* y, const T* dy, T* dx, int64_t R, int64_t L) {
#pragma omp parallel for if (R * L > 65536)
  for (int64_t r = 0; r < R; ++r) {
    const T* yr = y + r * L;
    const T* dyr = dy + r * L;
    T* dxr = dx + r * L;
    T dot = 0;
    for (int64_t i = 0; i < L; ++i) dot += dyr[i] * yr[i];
    for (int64_t i = 0; i < L; ++i) dxr[i] += yr[i] * (dyr[i] - dot);
  }
}

}  // namespace

// ---- dispatch -----------------------------------------------------------------------------------

void softmax_rows_forward(const Tensor& x, Tensor& y) {
  ENGINE_CHECK(x.shape() == y.shape() && x.dim() >= 1, "softmax rows: shapes ", shape_str(x.shape()), " and ",
        shape_str(y.shape()));
  const int64_t L = x.size(-1);
  const int64_t R = L > 0 ? x.numel() / L : 0;
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    softmax_rows_forward_cuda(x.data<float>(), y.data<float>(), R, L);
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_rows_forward_cpu<T>(x.data<T>(), y.data<T>(), R, L);
  });
}

void softmax_rows_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  ENGINE_CHECK(y.shape() == dy.shape() && y.shape() == dx.shape() && y.dim() >= 1, "softmax rows backward: shape mismatch");
  const int64_t L = y.size(-1);
  const int64_t R = L > 0 ? y.numel() / L : 0;
  if (y.is_cuda()) {
#ifdef ENGINE_CUDA
    softmax_rows_backward_cuda(y.data<float>(), dy.data<float>(), dx.data<float>(), R, L);
#endif
    return;
  }
  dispatch_cpu_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_rows_backward_cpu<T>(y.data<T>(), dy.data<T>(), dx.data<T>(), R, L);
  });
}

// ---- op -----------------------------------------------------------------------------------------

Tensor softmax(const Tensor& x) {
  check_float_op("softmax", {&x});
  USER_CHECK(x.dim() >= 1 && x.size(-1) > 0, "softmax: expected a non-empty last dimension, got ",
             shape_str(x.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // same shape as x: (..., L)
  softmax_rows_forward(x, y);

  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    // The backward needs only the output.
    autograd::record([x, y]() {
      Tensor dy = y.grad();  // (..., L)
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // (..., L)
      softmax_rows_backward(y, dy, dx);
    });
  }
  return y;
}

}  // namespace engine::ops
