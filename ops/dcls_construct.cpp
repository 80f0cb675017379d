#include "ops/dcls_construct.h"

#include <vector>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(dcls_construct);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Loops over the elements k of each (o, i) kernel instead of materialising the (D0, D1, 2, Co, Cin_g, Kc)
// tensor of the PyTorch code; the per-element maths is the shared one of dcls_construct.h. Each element's
// plane g (D0, D1) is computed once and kept, where the CUDA kernels recompute it.

template <class T>
void dcls_forward_cpu(const DclsDims& d, const T* weight, const T* P, const T* SIG, T* K) {
  const int64_t plane = d.D0 * d.D1;
#pragma omp parallel
  {
    std::vector<T> g(static_cast<size_t>(plane));  // (D0, D1)
#pragma omp for schedule(static)
    for (int64_t m = 0; m < d.M; ++m) {
      T* Km = K + m * plane;  // (D0, D1)
      for (int64_t j = 0; j < plane; ++j) Km[j] = T(0);
      for (int64_t k = 0; k < d.Kc; ++k) {
        const int64_t e = m * d.Kc + k;
        const T Z = dcls_gauss_norm(d, dcls_gauss(d, P, SIG, e), g.data());
        const T w = weight[e];
        for (int64_t j = 0; j < plane; ++j) Km[j] += dcls_gauss_weighted(g[j], Z, w);
      }
    }
  }
}

template <class T>
void dcls_backward_cpu(const DclsDims& d, const T* weight, const T* P, const T* SIG, const T* dK, T* dweight, T* dP,
                       T* dSIG) {
  const int64_t plane = d.D0 * d.D1;
#pragma omp parallel
  {
    std::vector<T> g(static_cast<size_t>(plane));  // (D0, D1)
#pragma omp for schedule(static)
    for (int64_t m = 0; m < d.M; ++m) {
      const T* G = dK + m * plane;  // (D0, D1) gradient of this kernel
      for (int64_t k = 0; k < d.Kc; ++k) {
        const int64_t e = m * d.Kc + k;
        const DclsGauss<T> q = dcls_gauss(d, P, SIG, e);
        const T Z = dcls_gauss_norm(d, q, g.data());
        T A = 0;  // dL/dweight
        for (int64_t j = 0; j < plane; ++j) A += dcls_gauss_weighted(g[j], Z, G[j]);
        if (dweight) dweight[e] += A;
        if (!dP && !dSIG) continue;
        const T w = weight[e];
        DclsGaussMoments<T> mo{};
        for (int64_t r = 0; r < d.D0; ++r)
          for (int64_t c = 0; c < d.D1; ++c) mo.add(q, r, c, w, g[r * d.D1 + c], Z, G[r * d.D1 + c], A);
        dcls_gauss_store_grad(d, q, mo, SIG, e, dP, dSIG);
      }
    }
  }
}

}  // namespace

Tensor dcls_construct(const Tensor& weight, const Tensor& P, const Tensor& SIG, int D0, int D1) {
  check_float_op("dcls_construct", {&weight, &P, &SIG});
  USER_CHECK(weight.dim() == 3, "dcls_construct: weight must be (Co, Cin_g, Kc), got ", shape_str(weight.shape()));
  USER_CHECK(D0 >= 1 && D1 >= 1, "dcls_construct: dilated kernel size must be >= 1, got (", D0, ",", D1, ")");
  const int64_t Co = weight.size(0), Cig = weight.size(1), Kc = weight.size(2);
  check_shape(P, {2, Co, Cig, Kc}, "dcls_construct P");
  check_shape(SIG, {2, Co, Cig, Kc}, "dcls_construct SIG");
  const DclsDims d{Co * Cig, Kc, D0, D1};

  Tensor K = Tensor::empty({Co, Cig, D0, D1}, weight.dtype(), weight.device());  // (Co, Cin_g, D0, D1)
  if (weight.is_cuda()) {
#ifdef ENGINE_CUDA
    dcls_construct_forward_cuda(d, weight.data<float>(), P.data<float>(), SIG.data<float>(), K.data<float>());
#endif
  } else {
    dispatch_cpu_float(weight.dtype(), [&](auto tag) {
      using T = decltype(tag);
      dcls_forward_cpu<T>(d, weight.data<T>(), P.data<T>(), SIG.data<T>(), K.data<T>());
    });
  }
  if (autograd::needs_grad({&weight, &P, &SIG})) {
    K.set_requires_grad(true);
    autograd::record([d, weight, P, SIG, K]() {
      Tensor dK = K.grad();  // (Co, Cin_g, D0, D1)
      if (!dK.defined()) return;
      Tensor dW = grad_if_required(weight);  // (Co, Cin_g, Kc)
      Tensor dP = grad_if_required(P);       // (2, Co, Cin_g, Kc)
      Tensor dS = grad_if_required(SIG);     // (2, Co, Cin_g, Kc)
      if (weight.is_cuda()) {
#ifdef ENGINE_CUDA
        dcls_construct_backward_cuda(d, weight.data<float>(), P.data<float>(), SIG.data<float>(), dK.data<float>(),
                                     data_or_null<float>(dW), data_or_null<float>(dP), data_or_null<float>(dS));
#endif
        return;
      }
      dispatch_cpu_float(weight.dtype(), [&](auto tag) {
        using T = decltype(tag);
        dcls_backward_cpu<T>(d, weight.data<T>(), P.data<T>(), SIG.data<T>(), dK.data<T>(), data_or_null<T>(dW),
                             data_or_null<T>(dP), data_or_null<T>(dS));
      });
    });
  }
  return K;
}

}  // namespace engine::ops
