#include "ops/channel_gate.h"

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(channel_gate);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void channel_gate_forward_cpu(const T* x, const T* s, T* y, int64_t N, int64_t HW, int64_t C) {
#pragma omp parallel for collapse(2) if (N * HW * C > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p) {
      const int64_t row = (n * HW + p) * C;
      for (int64_t c = 0; c < C; ++c) y[row + c] = x[row + c] * s[n * C + c];
    }
}

template <class T>
void channel_gate_backward_cpu(const T* x, const T* s, const T* dy, T* dx, T* ds, int64_t N, int64_t HW, int64_t C) {
#pragma omp parallel for if (N * HW * C > 65536)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t p = 0; p < HW; ++p) {
      const int64_t row = (n * HW + p) * C;
      if (dx)
        for (int64_t c = 0; c < C; ++c) dx[row + c] += dy[row + c] * s[n * C + c];
    }
    if (ds) {
      // Sums in double: the CPU is the reference for the CUDA kernel.
      for (int64_t c = 0; c < C; ++c) {
        double acc = 0;
        for (int64_t p = 0; p < HW; ++p) acc += double(dy[(n * HW + p) * C + c]) * double(x[(n * HW + p) * C + c]);
        ds[n * C + c] += T(acc);
      }
    }
  }
}

}  // namespace

Tensor channel_gate(const Tensor& x, const Tensor& s) {
  check_float_op("channel_gate", {&x, &s});
  USER_CHECK(x.dim() == 4, "channel_gate: x must be (N, H, W, C), got shape ", shape_str(x.shape()));
  const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3);
  check_shape(s, {N, C}, "channel_gate s");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // (N, H, W, C)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    channel_gate_forward_cuda(x.data<float>(), s.data<float>(), y.data<float>(), N, HW, C);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      channel_gate_forward_cpu<T>(x.data<T>(), s.data<T>(), y.data<T>(), N, HW, C);
    });
  }
  if (autograd::needs_grad({&x, &s})) {
    y.set_requires_grad(true);
    autograd::record([x, s, y, N, HW, C]() {
      Tensor dy = y.grad();  // (N, H, W, C)
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);  // (N, H, W, C)
      Tensor ds = grad_if_required(s);  // (N, C)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        channel_gate_backward_cuda(x.data<float>(), s.data<float>(), dy.data<float>(), data_or_null<float>(dx),
                                   data_or_null<float>(ds), N, HW, C);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        channel_gate_backward_cpu<T>(x.data<T>(), s.data<T>(), dy.data<T>(), data_or_null<T>(dx),
                                     data_or_null<T>(ds), N, HW, C);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
