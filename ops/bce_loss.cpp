#include "ops/bce_loss.h"

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(bce_with_logits);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
T bce_forward_cpu(const T* x, const T* t, int64_t n) {
  double sum = 0;  // double accumulator: the f32 reference stays accurate for long inputs
#pragma omp parallel for reduction(+ : sum) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) sum += double(bce_term(x[i], t[i]));
  return T(sum / double(n));
}

template <class T>
void bce_backward_cpu(const T* x, const T* t, T g, T* dx, T* dt, int64_t n) {
  const T gn = g / T(n);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    if (dx) dx[i] += gn * (stable_sigmoid(x[i]) - t[i]);
    if (dt) dt[i] -= gn * x[i];
  }
}

}  // namespace

Tensor bce_with_logits(const Tensor& logits, const Tensor& targets) {
  check_float_op("bce_with_logits", {&logits, &targets});
  check_shape(targets, logits.shape(), "bce_with_logits targets");
  const int64_t n = logits.numel();
  USER_CHECK(n > 0, "bce_with_logits: empty input");
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());  // {} (one element)
  if (logits.is_cuda()) {
#ifdef ENGINE_CUDA
    bce_forward_cuda(logits.data<float>(), targets.data<float>(), loss.data<float>(), n);
#endif
  } else {
    dispatch_cpu_float(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      loss.data<T>()[0] = bce_forward_cpu<T>(logits.data<T>(), targets.data<T>(), n);
    });
  }

  if (autograd::needs_grad({&logits, &targets})) {
    loss.set_requires_grad(true);
    autograd::record([logits, targets, loss, n]() {
      Tensor dloss = loss.grad();  // {}
      if (!dloss.defined()) return;
      Tensor dx = grad_if_required(logits);   // same shape as logits, or undefined
      Tensor dt = grad_if_required(targets);  // same shape as targets, or undefined
      if (logits.is_cuda()) {
#ifdef ENGINE_CUDA
        bce_backward_cuda(logits.data<float>(), targets.data<float>(), dloss.data<float>(), data_or_null<float>(dx),
                          data_or_null<float>(dt), n);
#endif
        return;
      }
      dispatch_cpu_float(logits.dtype(), [&](auto tag) {
        using T = decltype(tag);
        bce_backward_cpu<T>(logits.data<T>(), targets.data<T>(), dloss.data<T>()[0], data_or_null<T>(dx),
                            data_or_null<T>(dt), n);
      });
    });
  }
  return loss;
}

}  // namespace engine::ops
