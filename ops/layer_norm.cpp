#include "ops/layer_norm.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(layer_norm);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Row statistics and the backward's row/column sums accumulate in double for both T: the CPU is the
// reference the CUDA kernels are compared against, and a double sum costs nothing next to the loads.

template <class T>
void layer_norm_forward_cpu(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t C,
                            double eps) {
#pragma omp parallel for if (rows * C > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * C;  // (C)
    T* yr = y + r * C;        // (C)
    double m = 0;
    for (int64_t c = 0; c < C; ++c) m += xr[c];
    m /= double(C);
    double v = 0;  // two passes: no cancellation in E[x^2] - E[x]^2
    for (int64_t c = 0; c < C; ++c) {
      double d = double(xr[c]) - m;
      v += d * d;
    }
    v /= double(C);
    double rs = 1.0 / std::sqrt(v + eps);
    for (int64_t c = 0; c < C; ++c) {
      double h = (double(xr[c]) - m) * rs;
      if (w) h *= double(w[c]);
      if (b) h += double(b[c]);
      yr[c] = T(h);
    }
    mean[r] = T(m);
    rstd[r] = T(rs);
  }
}

template <class T>
void layer_norm_backward_cpu(const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx, T* dw, T* db,
                             int64_t rows, int64_t C) {
  if (dx) {
#pragma omp parallel for if (rows * C > 65536)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * C;    // (C)
      const T* dyr = dy + r * C;  // (C)
      T* dxr = dx + r * C;        // (C)
      double m = double(mean[r]), rs = double(rstd[r]);
      double mean_g = 0, mean_gh = 0;
      for (int64_t c = 0; c < C; ++c) {
        double h = (double(xr[c]) - m) * rs;
        double g = double(dyr[c]) * (w ? double(w[c]) : 1.0);
        mean_g += g;
        mean_gh += g * h;
      }
      mean_g /= double(C);
      mean_gh /= double(C);
      for (int64_t c = 0; c < C; ++c) {
        double h = (double(xr[c]) - m) * rs;
        double g = double(dyr[c]) * (w ? double(w[c]) : 1.0);
        dxr[c] += T(rs * (g - mean_g - h * mean_gh));
      }
    }
  }
  if (dw || db) {
    std::vector<double> sums(size_t(2 * C), 0.0);  // (2, C): sum over rows of dy * xhat, of dy
    sum_rows_blocked<double>(rows, C, 2, sums.data(), [&](int64_t r, double* acc) {
      const double m = double(mean[r]), rs = double(rstd[r]);
      for (int64_t c = 0; c < C; ++c) {
        const double g = double(dy[r * C + c]);
        acc[c] += g * (double(x[r * C + c]) - m) * rs;
        acc[C + c] += g;
      }
    });
    for (int64_t c = 0; c < C; ++c) {
      if (dw) dw[c] += T(sums[size_t(c)]);
      if (db) db[c] += T(sums[size_t(C + c)]);
    }
  }
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  check_float_op("layer_norm", {&x, &w, &b});
  USER_CHECK(x.dim() >= 1 && x.size(-1) >= 1, "layer_norm: x must have a non-empty last dimension, got shape ",
             shape_str(x.shape()));
  USER_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  const int64_t C = x.size(-1);
  const int64_t rows = x.numel() / C;
  if (w.defined()) check_shape(w, {C}, "layer_norm weight");
  if (b.defined()) check_shape(b, {C}, "layer_norm bias");

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // (..., C)
  Tensor mean = Tensor::empty({rows}, x.dtype(), x.device());  // (rows)
  Tensor rstd = Tensor::empty({rows}, x.dtype(), x.device());  // (rows)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    layer_norm_forward_cuda(x.data<float>(), data_or_null<float>(w), data_or_null<float>(b), y.data<float>(),
                            mean.data<float>(), rstd.data<float>(), rows, C, float(eps));
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      layer_norm_forward_cpu<T>(x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), y.data<T>(), mean.data<T>(),
                                rstd.data<T>(), rows, C, eps);
    });
  }

  if (autograd::needs_grad({&x, &w, &b})) {
    y.set_requires_grad(true);
    autograd::record([x, w, b, y, mean, rstd, rows, C]() mutable {
      Tensor dy = y.grad();  // (..., C)
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);  // (..., C)
      Tensor dw = grad_if_required(w);  // (C)
      Tensor db = grad_if_required(b);  // (C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        layer_norm_backward_cuda(x.data<float>(), data_or_null<float>(w), mean.data<float>(), rstd.data<float>(),
                                 dy.data<float>(), data_or_null<float>(dx), data_or_null<float>(dw),
                                 data_or_null<float>(db), rows, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        layer_norm_backward_cpu<T>(x.data<T>(), data_or_null<T>(w), mean.data<T>(), rstd.data<T>(), dy.data<T>(),
                                   data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db), rows, C);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
