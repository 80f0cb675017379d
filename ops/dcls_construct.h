// DCLS-Gauss dense kernel construction, bit-compatible in its maths with dcls 0.1.1
// (ConstructKernel2d.forward_vgauss; spec: shared/spec/dcls.md §A.3 and §B).
//
// Inputs (PyTorch layouts of Dcls2d):
//   weight (Co, Cin_g, Kc)     one scalar weight per kernel element
//   P      (2, Co, Cin_g, Kc)  positions relative to the kernel centre; P[0] = columns (x), P[1] = rows (y)
//   SIG    (2, Co, Cin_g, Kc)  raw standard deviations; the effective one is |SIG| + 0.27
// Output: K (Co, Cin_g, D0, D1), D0 = kernel rows, D1 = kernel columns. For each (o, i, k), cell (r, c):
//   cx = P[0] + D0//2,  cy = P[1] + D1//2        (column centre offset by D0//2 and row centre by D1//2:
//                                                  the upstream quirk, kept; no effect when D0 == D1)
//   sx = |SIG[0]| + 0.27,  sy = |SIG[1]| + 0.27
//   g_k(r,c) = exp(-0.5 * (((c - cx)/sx)^2 + ((r - cy)/sy)^2)),   Z_k = sum_{r,c} g_k + 1e-7
//   K[o,i,r,c] = sum_k (g_k(r,c) / Z_k) * weight[o,i,k]
// No clamp: an element far outside the grid underflows to g = 0 and contributes (and receives) nothing.
// Backward (accumulating), with G = dL/dK[o,i], n_k = g_k / Z_k:
//   dweight = A_k = sum G n_k;   T_k = weight * n_k * (G - A_k)
//   dP[0] = sum T_k (c-cx)/sx^2,   dP[1] = sum T_k (r-cy)/sy^2
//   dSIG[0] = sign(SIG[0]) sum T_k (c-cx)^2/sx^3,   dSIG[1] = sign(SIG[1]) sum T_k (r-cy)^2/sy^3,  sign(0) = 0
// The groups of the convolution do not enter here: K is simply (Co, Cin_g, D0, D1). P and SIG shared by
// several layers (one per stage in DCLS-Audio) get the sum of the layers' gradients through autograd.
#pragma once
#include <cmath>

#include "engine/rng.h"  // ENGINE_HD
#include "engine/tensor.h"
#include "ops/scalar_math.h"

namespace engine::ops {

Tensor dcls_construct(const Tensor& weight, const Tensor& P, const Tensor& SIG, int D0, int D1);

// Sizes of one call. M = Co * Cin_g kernels of Kc elements each; element e = m * Kc + k; P[0] and SIG[0]
// live at e, P[1] and SIG[1] at M * Kc + e.
struct DclsDims {
  int64_t M, Kc, D0, D1;
};

// The per-element maths below is the only definition of it: the CPU reference (dcls_construct.cpp, f32/f64)
// and the CUDA kernels (dcls_construct.cu, f32) both call these helpers, in torch's order of operations
// where it matters (P + D//2, |SIG| + 0.27, (idx - centre) / sigma, sum then + 1e-7, g / Z before * weight).

// One Gaussian element: centre (cx, cy) in grid coordinates and effective sigmas (sx, sy).
template <class T>
struct DclsGauss {
  T cx, cy, sx, sy;
};

template <class T>
ENGINE_HD DclsGauss<T> dcls_gauss(const DclsDims& d, const T* P, const T* SIG, int64_t e) {
  using std::fabs;                    // float overload on the host (plain fabs would widen to double)
  const int64_t second = d.M * d.Kc;  // offset of P[1], SIG[1]
  return {P[e] + T(d.D0 / 2), P[second + e] + T(d.D1 / 2), fabs(SIG[e]) + T(0.27), fabs(SIG[second + e]) + T(0.27)};
}

// Unnormalised g(r, c).
template <class T>
ENGINE_HD T dcls_gauss_value(const DclsGauss<T>& q, int64_t r, int64_t c) {
  const T u = (T(c) - q.cx) / q.sx;
  const T v = (T(r) - q.cy) / q.sy;
  return exp(T(-0.5) * (u * u + v * v));
}

// Z = sum_{r,c} g(r, c) + 1e-7, summed in row-major grid order. When g is non-null it also receives the
// plane g (D0, D1) (the CPU keeps it; the CUDA kernels pass nullptr and recompute g where they need it).
template <class T>
ENGINE_HD T dcls_gauss_norm(const DclsDims& d, const DclsGauss<T>& q, T* g = nullptr) {
  T Z = T(0);
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) {
      const T v = dcls_gauss_value(q, r, c);
      if (g) g[r * d.D1 + c] = v;
      Z += v;
    }
  return Z + T(1e-7);
}

// (g / Z) * x, normalise first as torch does. x = weight gives the cell's contribution to K; x = G (the
// kernel gradient at that cell) its contribution to A = dL/dweight (IEEE products commute, so the bits match
// torch's G * (g / Z)).
template <class T>
ENGINE_HD T dcls_gauss_weighted(T g, T Z, T x) {
  return (g / Z) * x;
}

// Backward sums of one element over its grid: T_k(r,c) = weight * (g / Z) * (G - A) times (c-cx), (r-cy),
// (c-cx)^2 and (r-cy)^2; A = dL/dweight of the element must be complete before the first add.
template <class T>
struct DclsGaussMoments {
  T px, py, sxx, syy;  // start from {} (all zero)

  ENGINE_HD void add(const DclsGauss<T>& q, int64_t r, int64_t c, T w, T g, T Z, T G, T A) {
    const T dr = T(r) - q.cy;
    const T dc = T(c) - q.cx;
    const T t = dcls_gauss_weighted(g, Z, w) * (G - A);  // dL/dg * g
    px += t * dc;
    py += t * dr;
    sxx += t * dc * dc;
    syy += t * dr * dr;
  }
};

template <class T>
ENGINE_HD T sign_or_zero(T v) {
  return T((v > T(0)) - (v < T(0)));
}

// Accumulates the element's dP and dSIG (either may be null) from its moments:
//   dP[0] = px / sx^2,  dP[1] = py / sy^2,  dSIG[0] = sign(SIG[0]) sxx / sx^3,  dSIG[1] = sign(SIG[1]) syy / sy^3.
template <class T>
ENGINE_HD void dcls_gauss_store_grad(const DclsDims& d, const DclsGauss<T>& q, const DclsGaussMoments<T>& mo,
                                     const T* SIG, int64_t e, T* dP, T* dSIG) {
  const int64_t second = d.M * d.Kc;  // offset of P[1], SIG[1]
  if (dP) {
    dP[e] += mo.px / (q.sx * q.sx);
    dP[second + e] += mo.py / (q.sy * q.sy);
  }
  if (dSIG) {
    dSIG[e] += sign_or_zero(SIG[e]) * mo.sxx / (q.sx * q.sx * q.sx);
    dSIG[second + e] += sign_or_zero(SIG[second + e]) * mo.syy / (q.sy * q.sy * q.sy);
  }
}

#ifdef ENGINE_CUDA
void dcls_construct_forward_cuda(const DclsDims& d, const float* weight, const float* P, const float* SIG, float* K);
// Each non-null gradient is accumulated (+=); dK is the gradient of K.
void dcls_construct_backward_cuda(const DclsDims& d, const float* weight, const float* P, const float* SIG,
                                  const float* dK, float* dweight, float* dP, float* dSIG);
#endif

}  // namespace engine::ops
