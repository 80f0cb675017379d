#include "ops/drop_path.h"

#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(drop_path);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

// Per-sample multiplier: scale if kept, 0 if dropped. The comparison is in float (as on the device) so the
// mask is bit-identical across devices and element types.
template <class T>
std::vector<T> sample_scales(int64_t N, float keep_prob, T scale, uint64_t seed, uint64_t offset) {
  std::vector<T> s(static_cast<size_t>(N));  // (N)
  for (int64_t n = 0; n < N; ++n) s[size_t(n)] = philox_uniform(seed, offset, uint64_t(n)) < keep_prob ? scale : T(0);
  return s;
}

template <class T>
void drop_path_forward_cpu(const T* x, T* y, int64_t N, int64_t inner, float keep_prob, T scale, uint64_t seed,
                           uint64_t offset) {
  std::vector<T> s = sample_scales<T>(N, keep_prob, scale, seed, offset);  // (N)
#pragma omp parallel for if (N * inner > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < inner; ++i) y[n * inner + i] = x[n * inner + i] * s[size_t(n)];
}

template <class T>
void drop_path_backward_cpu(const T* dy, T* dx, int64_t N, int64_t inner, float keep_prob, T scale, uint64_t seed,
                            uint64_t offset) {
  std::vector<T> s = sample_scales<T>(N, keep_prob, scale, seed, offset);  // (N)
#pragma omp parallel for if (N * inner > 65536)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < inner; ++i) dx[n * inner + i] += dy[n * inner + i] * s[size_t(n)];
}

}  // namespace

Tensor drop_path(const Tensor& x, double p, bool training, uint64_t seed, uint64_t offset) {
  check_float_op("drop_path", {&x});
  USER_CHECK(p >= 0.0 && p < 1.0, "drop_path: p must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  USER_CHECK(x.dim() >= 1, "drop_path: x must have a batch dimension, got shape ", shape_str(x.shape()));
  int64_t N = x.size(0);
  int64_t inner = N > 0 ? x.numel() / N : 0;  // elements per sample
  float keep_prob = float(1.0 - p);
  double scale = 1.0 / (1.0 - p);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());  // (N, ...)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    drop_path_forward_cuda(x.data<float>(), y.data<float>(), N, inner, keep_prob, float(scale), seed, offset);
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      drop_path_forward_cpu<T>(x.data<T>(), y.data<T>(), N, inner, keep_prob, T(scale), seed, offset);
    });
  }
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([x, y, N, inner, keep_prob, scale, seed, offset]() {
      Tensor dy = y.grad();  // (N, ...)
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // (N, ...)
      if (x.is_cuda()) {
#ifdef ENGINE_CUDA
        drop_path_backward_cuda(dy.data<float>(), dx.data<float>(), N, inner, keep_prob, float(scale), seed, offset);
#endif
        return;
      }
      dispatch_cpu_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        drop_path_backward_cpu<T>(dy.data<T>(), dx.data<T>(), N, inner, keep_prob, T(scale), seed, offset);
      });
    });
  }
  return y;
}

}  // namespace engine::ops
