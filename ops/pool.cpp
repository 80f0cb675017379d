#include "ops/pool.h"

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(global_avg_pool);
ENGINE_REGISTER_OP(time_max_mean_pool);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Sums accumulate in double for both T (the CPU is the reference for the CUDA kernels).

template <class T>
void global_avg_pool_forward_cpu(const T* x, T* y, int64_t N, int64_t HW, int64_t C) {
#pragma omp parallel for if (N * HW * C > 65536)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t p = 0; p < HW; ++p) s += double(x[(n * HW + p) * C + c]);
      y[n * C + c] = T(s / double(HW));
    }
  }
}

template <class T>
void global_avg_pool_backward_cpu(const T* dy, T* dx, int64_t N, int64_t HW, int64_t C) {
#pragma omp parallel for if (N * HW * C > 65536)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t p = 0; p < HW; ++p) {
      for (int64_t c = 0; c < C; ++c) dx[(n * HW + p) * C + c] += dy[n * C + c] / T(HW);
    }
  }
}

// Per (n, c): the frequency means m[w] in double, their maximum (first one on ties) and mean.
template <class T>
void time_max_mean_pool_forward_cpu(const T* x, T* y, int32_t* argmax, int64_t N, int64_t H, int64_t W, int64_t C) {
#pragma omp parallel for if (N * H * W * C > 65536)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      double best = 0, sum = 0;
      int32_t best_w = 0;
      for (int64_t w = 0; w < W; ++w) {
        double m = 0;
        for (int64_t h = 0; h < H; ++h) m += double(x[((n * H + h) * W + w) * C + c]);
        m /= double(H);
        sum += m;
        if (w == 0 || m > best) best = m, best_w = int32_t(w);
      }
      y[n * C + c] = T(best + sum / double(W));
      argmax[n * C + c] = best_w;
    }
  }
}

template <class T>
void time_max_mean_pool_backward_cpu(const T* dy, const int32_t* argmax, T* dx, int64_t N, int64_t H, int64_t W,
                                     int64_t C) {
#pragma omp parallel for if (N * H * W * C > 65536)
  for (int64_t nh = 0; nh < N * H; ++nh) {
    const int64_t n = nh / H;
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) {
        const T g = dy[n * C + c] / T(H);
        dx[(nh * W + w) * C + c] += g / T(W) + (argmax[n * C + c] == w ? g : T(0));
      }
  }
}

}  // namespace

Tensor time_max_mean_pool(const Tensor& x) {
  check_float_op("time_max_mean_pool", {&x});
  USER_CHECK(x.dim() == 4 && x.size(1) >= 1 && x.size(2) >= 1,
             "time_max_mean_pool: x must be (N, H, W, C) with H, W >= 1, got shape ", shape_str(x.shape()));
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  Tensor y = Tensor::empty({N, C}, x.dtype(), x.device());             // (N, C)
  Tensor argmax = Tensor::empty({N, C}, DType::i32, x.device());       // (N, C): w* per (n, c)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    time_max_mean_pool_forward_cuda(x.data<float>(), y.data<float>(), argmax.data<int32_t>(), N, H, W, C);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      time_max_mean_pool_forward_cpu<T>(x.data<T>(), y.data<T>(), argmax.data<int32_t>(), N, H, W, C);
    });
  }
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([x, y, argmax, N, H, W, C]() mutable {
      Tensor dy = y.grad();  // (N, C)
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // (N, H, W, C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        time_max_mean_pool_backward_cuda(dy.data<float>(), argmax.data<int32_t>(), dx.data<float>(), N, H, W, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        time_max_mean_pool_backward_cpu<T>(dy.data<T>(), argmax.data<int32_t>(), dx.data<T>(), N, H, W, C);
      });
    });
  }
  return y;
}

Tensor global_avg_pool(const Tensor& x) {
  check_float_op("global_avg_pool", {&x});
  USER_CHECK(x.dim() == 4 && x.size(1) * x.size(2) >= 1,
             "global_avg_pool: x must be (N, H, W, C) with H*W >= 1, got shape ", shape_str(x.shape()));
  const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3);
  Tensor y = Tensor::empty({N, C}, x.dtype(), x.device());  // (N, C)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    global_avg_pool_forward_cuda(x.data<float>(), y.data<float>(), N, HW, C);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      global_avg_pool_forward_cpu<T>(x.data<T>(), y.data<T>(), N, HW, C);
    });
  }
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([x, y, N, HW, C]() mutable {
      Tensor dy = y.grad();  // (N, C)
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // (N, H, W, C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        global_avg_pool_backward_cuda(dy.data<float>(), dx.data<float>(), N, HW, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        global_avg_pool_backward_cpu<T>(dy.data<T>(), dx.data<T>(), N, HW, C);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
