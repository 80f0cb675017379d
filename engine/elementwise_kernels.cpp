#include "engine/elementwise_kernels.h"

namespace engine::kernels {

#ifdef ENGINE_CUDA
static void require_float_cuda(const Tensor& t, const char* what) {
  USER_CHECK(t.dtype() == DType::f32, what, ": CUDA tensors must be f32, got ", dtype_name(t.dtype()));
}
#endif

void axpy(Tensor& y, const Tensor& x, double a) {
  ENGINE_CHECK(y.shape() == x.shape() && y.dtype() == x.dtype() && y.device() == x.device(), "axpy mismatch");
  int64_t n = y.numel();
  if (y.is_cuda()) {
#ifdef ENGINE_CUDA
    require_float_cuda(y, "axpy");
    axpy_cuda(y.data<float>(), x.data<float>(), float(a), n);
#endif
    return;
  }
  dispatch_cpu_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const T* px = x.data<T>();
    T ta = T(a);
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) py[i] += ta * px[i];
  });
}

void scale(Tensor& y, double a) {
  int64_t n = y.numel();
  if (y.is_cuda()) {
#ifdef ENGINE_CUDA
    require_float_cuda(y, "scale");
    scale_cuda(y.data<float>(), float(a), n);
#endif
    return;
  }
  dispatch_cpu_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    for (int64_t i = 0; i < n; ++i) py[i] *= T(a);
  });
}

void fill(Tensor& y, double value) {
  int64_t n = y.numel();
  if (y.is_cuda()) {
#ifdef ENGINE_CUDA
    require_float_cuda(y, "fill");
    fill_cuda(y.data<float>(), float(value), n);
#endif
    return;
  }
  dispatch_cpu_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    for (int64_t i = 0; i < n; ++i) py[i] = T(value);
  });
}

}  // namespace engine::kernels
