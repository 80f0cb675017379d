#include "ops/batch_norm.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(batch_norm2d);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Channel statistics and gradient sums accumulate in double for both T (the CPU is the reference the
// CUDA kernels are compared against). Channel sums run row by row (sum_rows_blocked).

template <class T>
void batch_norm_train_stats_cpu(const T* x, T* mean, T* rstd, T* running_mean, T* running_var, int64_t M,
                                int64_t C, double momentum, double eps) {
  std::vector<double> m(size_t(C), 0.0), v(size_t(C), 0.0);  // (C)
  sum_rows_blocked<double>(M, C, 1, m.data(), [&](int64_t i, double* acc) {
    for (int64_t c = 0; c < C; ++c) acc[c] += double(x[i * C + c]);
  });
  for (double& mc : m) mc /= double(M);
  sum_rows_blocked<double>(M, C, 1, v.data(), [&](int64_t i, double* acc) {  // two passes: no cancellation
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(x[i * C + c]) - m[size_t(c)];
      acc[c] += d * d;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    const double mc = m[size_t(c)], vc = v[size_t(c)] / double(M);
    mean[c] = T(mc);
    rstd[c] = T(1.0 / std::sqrt(vc + eps));
    running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mc);
    running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * vc * double(M) / double(M - 1));
  }
}

template <class T>
void batch_norm_eval_stats_cpu(const T* running_mean, const T* running_var, T* mean, T* rstd, int64_t C,
                               double eps) {
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    rstd[c] = T(1.0 / std::sqrt(double(running_var[c]) + eps));
  }
}

template <class T>
void batch_norm_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y, int64_t M,
                            int64_t C) {
#pragma omp parallel for if (M * C > 65536)
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      double h = (double(x[i * C + c]) - double(mean[c])) * double(rstd[c]);
      if (w) h *= double(w[c]);
      if (b) h += double(b[c]);
      y[i * C + c] = T(h);
    }
  }
}

template <class T>
void batch_norm_backward_cpu(bool training, const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx,
                             T* dw, T* db, int64_t M, int64_t C) {
  std::vector<double> sums(size_t(2 * C), 0.0);  // (2, C): sum over M of g, of g * xhat
  sum_rows_blocked<double>(M, C, 2, sums.data(), [&](int64_t i, double* acc) {
    for (int64_t c = 0; c < C; ++c) {
      const double g = double(dy[i * C + c]);
      acc[c] += g;
      acc[C + c] += g * (double(x[i * C + c]) - double(mean[c])) * double(rstd[c]);
    }
  });
  std::vector<double> mean_g(static_cast<size_t>(C)), mean_gh(static_cast<size_t>(C));  // (C) means over M of g and g*xhat
  for (int64_t c = 0; c < C; ++c) {
    const double s = sums[size_t(c)], sh = sums[size_t(C + c)];
    if (dw) dw[c] += T(sh);
    if (db) db[c] += T(s);
    const double wc = w ? double(w[c]) : 1.0;
    mean_g[size_t(c)] = wc * s / double(M);
    mean_gh[size_t(c)] = wc * sh / double(M);
  }
  if (!dx) return;
#pragma omp parallel for if (M * C > 65536)
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t c = 0; c < C; ++c) {
      double rs = double(rstd[c]);
      double g = double(dy[i * C + c]) * (w ? double(w[c]) : 1.0);
      if (training) {
        double h = (double(x[i * C + c]) - double(mean[c])) * rs;
        g -= mean_g[size_t(c)] + h * mean_gh[size_t(c)];
      }
      dx[i * C + c] += T(rs * g);
    }
  }
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                    const Tensor& running_var, const Tensor& num_batches_tracked, const BatchNormParams& p) {
  check_float_op("batch_norm2d", {&x, &w, &b, &running_mean, &running_var});
  USER_CHECK(x.dim() == 4 && x.size(3) >= 1, "batch_norm2d: x must be (N, H, W, C) with C >= 1, got shape ",
             shape_str(x.shape()));
  const int64_t C = x.size(3);
  const int64_t M = x.numel() / C;  // positions per channel: N*H*W
  if (w.defined()) check_shape(w, {C}, "batch_norm2d weight");
  if (b.defined()) check_shape(b, {C}, "batch_norm2d bias");
  USER_CHECK(running_mean.defined() && running_var.defined(),
             "batch_norm2d: running_mean and running_var are required");
  check_shape(running_mean, {C}, "batch_norm2d running_mean");
  check_shape(running_var, {C}, "batch_norm2d running_var");
  if (num_batches_tracked.defined()) {
    USER_CHECK(num_batches_tracked.dtype() == DType::i64 && num_batches_tracked.dim() == 0,
               "batch_norm2d: num_batches_tracked must be an i64 tensor of shape {}, got ",
               dtype_name(num_batches_tracked.dtype()), " ", shape_str(num_batches_tracked.shape()));
    USER_CHECK(num_batches_tracked.device() == x.device(), "batch_norm2d: num_batches_tracked on ",
               device_name(num_batches_tracked.device()), ", x on ", device_name(x.device()));
  }
  USER_CHECK(!p.training || M > 1, "batch_norm2d: training needs more than one value per channel, got x of shape ",
             shape_str(x.shape()));
  USER_CHECK(p.eps >= 0 && p.momentum >= 0 && p.momentum <= 1,
             "batch_norm2d: need eps >= 0 and momentum in [0, 1], got eps ", p.eps, ", momentum ", p.momentum);

  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // (N, H, W, C)
  // The statistics used to normalise, saved for the backward. Fresh tensors, also in eval mode, so a
  // later in-place update of the running buffers cannot change this op's backward.
  Tensor mean = Tensor::empty({C}, x.dtype(), x.device());  // (C)
  Tensor rstd = Tensor::empty({C}, x.dtype(), x.device());  // (C)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    if (p.training) {
      batch_norm_train_stats_cuda(x.data<float>(), mean.data<float>(), rstd.data<float>(), running_mean.data<float>(),
                                  running_var.data<float>(), M, C, float(p.momentum), float(p.eps));
      if (num_batches_tracked.defined()) increment_counter_cuda(num_batches_tracked.data<int64_t>());
    } else {
      batch_norm_eval_stats_cuda(running_mean.data<float>(), running_var.data<float>(), mean.data<float>(),
                                 rstd.data<float>(), C, float(p.eps));
    }
    batch_norm_forward_cuda(x.data<float>(), mean.data<float>(), rstd.data<float>(), data_or_null<float>(w),
                            data_or_null<float>(b), y.data<float>(), M, C);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (p.training) {
        batch_norm_train_stats_cpu<T>(x.data<T>(), mean.data<T>(), rstd.data<T>(), running_mean.data<T>(),
                                      running_var.data<T>(), M, C, p.momentum, p.eps);
        if (num_batches_tracked.defined()) num_batches_tracked.data<int64_t>()[0] += 1;
      } else {
        batch_norm_eval_stats_cpu<T>(running_mean.data<T>(), running_var.data<T>(), mean.data<T>(), rstd.data<T>(),
                                     C, p.eps);
      }
      batch_norm_forward_cpu<T>(x.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(w), data_or_null<T>(b),
                                y.data<T>(), M, C);
    });
  }

  if (autograd::needs_grad({&x, &w, &b})) {
    y.set_requires_grad(true);
    const bool training = p.training;
    autograd::record([training, x, w, b, y, mean, rstd, M, C]() mutable {
      Tensor dy = y.grad();  // (N, H, W, C)
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);  // (N, H, W, C)
      Tensor dw = grad_if_required(w);  // (C)
      Tensor db = grad_if_required(b);  // (C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        Tensor sums = Tensor::empty({2, C}, DType::f32, Device::CUDA);  // (2, C) sum dy, sum dy*xhat
        batch_norm_backward_cuda(training, x.data<float>(), data_or_null<float>(w), mean.data<float>(),
                                 rstd.data<float>(), dy.data<float>(), data_or_null<float>(dx),
                                 data_or_null<float>(dw), data_or_null<float>(db), sums.data<float>(), M, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        batch_norm_backward_cpu<T>(training, x.data<T>(), data_or_null<T>(w), mean.data<T>(), rstd.data<T>(),
                                   dy.data<T>(), data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db), M, C);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
