#include "ops/linear.h"

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/matmul.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(linear);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void bias_rows_fill_cpu(const T* b, T* y, int64_t R, int64_t M) {
#pragma omp parallel for if (R * M > 65536)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t m = 0; m < M; ++m) y[r * M + m] = b[m];
}

// db (M) += column sums of dy (R, M).
template <class T>
void bias_rows_backward_cpu(const T* dy, T* db, int64_t R, int64_t M) {
  sum_rows_blocked<T>(R, M, 1, db, [&](int64_t r, T* acc) {
    const T* row = dy + r * M;
    for (int64_t m = 0; m < M; ++m) acc[m] += row[m];
  });
}

// ---- dispatch -----------------------------------------------------------------------------------

void bias_rows_fill(const Tensor& b, Tensor& y, int64_t R, int64_t M) {
  if (y.is_cuda()) {
#ifdef ENGINE_CUDA
    bias_rows_fill_cuda(b.data<float>(), y.data<float>(), R, M);
#endif
    return;
  }
  dispatch_cpu_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    bias_rows_fill_cpu<T>(b.data<T>(), y.data<T>(), R, M);
  });
}

void bias_rows_backward(const Tensor& dy, Tensor& db, int64_t R, int64_t M) {
  if (dy.is_cuda()) {
#ifdef ENGINE_CUDA
    bias_rows_backward_cuda(dy.data<float>(), db.data<float>(), R, M);
#endif
    return;
  }
  dispatch_cpu_float(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    bias_rows_backward_cpu<T>(dy.data<T>(), db.data<T>(), R, M);
  });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_float_op("linear", {&x, &w, &b});
  USER_CHECK(w.dim() == 2, "linear: weight must be (out, in), got ", shape_str(w.shape()));
  const int64_t M = w.size(0), K = w.size(1);
  USER_CHECK(x.dim() >= 1 && x.size(-1) == K, "linear: x must be (..., ", K, ") for weight ", shape_str(w.shape()),
             ", got ", shape_str(x.shape()));
  USER_CHECK(K > 0, "linear: in_features is 0");
  if (b.defined()) check_shape(b, {M}, "linear bias");
  const int64_t R = x.numel() / K;  // rows: every leading index of x

  Shape y_shape = x.shape();
  y_shape.back() = M;
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());  // (..., M), viewed as (R, M)
  // y (R, M) = x (R, K) @ w^T (K, M) [+ b broadcast over rows]
  GemmShape g{false, true, R, M, K};
  if (b.defined()) bias_rows_fill(b, y, R, M);
  gemm(g, 1.0, x, w, b.defined() ? 1.0 : 0.0, y);

  if (autograd::needs_grad({&x, &w, &b})) {
    y.set_requires_grad(true);
    autograd::record([x, w, b, y, R, M, K]() {
      Tensor dy = y.grad();  // (..., M) = (R, M)
      if (!dy.defined()) return;
      if (x.requires_grad()) {
        // dx (R, K) += dy (R, M) @ w (M, K)
        Tensor dx = x.grad_or_zeros();
        gemm(GemmShape{false, false, R, K, M}, 1.0, dy, w, 1.0, dx);
      }
      if (w.requires_grad()) {
        // dw (M, K) += dy^T (M, R) @ x (R, K)
        Tensor dw = w.grad_or_zeros();
        gemm(GemmShape{true, false, M, K, R}, 1.0, dy, x, 1.0, dw);
      }
      if (b.defined() && b.requires_grad()) {
        Tensor db = b.grad_or_zeros();  // (M)
        bias_rows_backward(dy, db, R, M);
      }
    });
  }
  return y;
}

}  // namespace engine::ops
