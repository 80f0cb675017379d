// DCLS-Gauss kernel construction on CUDA: simple kernels that recompute the Gaussians instead of storing
// them (the speed issue may cache them).
//   forward : (1) one thread per element e = (m, k): Z_e = sum g + 1e-7 into a scratch buffer;
//             (2) one thread per kernel cell (m, r, c): K = sum_k (g_k / Z_k) * weight.
//   backward: one thread per element e; three passes over its D0 x D1 grid (Z, then A = dweight, then the
//             dP / dSIG sums). Every thread owns its element's gradients: no atomics.
#include "engine/cuda_context.h"
#include "ops/dcls_construct.h"

namespace engine::ops {

namespace {

constexpr int kThreads = 256;

__global__ void dcls_norm_kernel(DclsDims d, const float* P, const float* SIG, float* Z) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= d.M * d.Kc) return;
  const DclsGauss<float> q = dcls_gauss(d, P, SIG, e);
  float z = 0.f;
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) z += dcls_gauss_value(q, r, c);
  Z[e] = z + 1e-7f;
}

__global__ void dcls_build_kernel(DclsDims d, const float* weight, const float* P, const float* SIG, const float* Z,
                                  float* K) {
  const int64_t plane = d.D0 * d.D1;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.M * plane) return;
  const int64_t m = i / plane, j = i % plane;
  const int64_t r = j / d.D1, c = j % d.D1;
  float acc = 0.f;
  for (int64_t k = 0; k < d.Kc; ++k) {
    const int64_t e = m * d.Kc + k;
    acc += (dcls_gauss_value(dcls_gauss(d, P, SIG, e), r, c) / Z[e]) * weight[e];
  }
  K[i] = acc;
}

__global__ void dcls_backward_kernel(DclsDims d, const float* weight, const float* P, const float* SIG,
                                     const float* dK, float* dweight, float* dP, float* dSIG) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= d.M * d.Kc) return;
  const int64_t second = d.M * d.Kc;  // offset of P[1], SIG[1]
  const float* G = dK + (e / d.Kc) * d.D0 * d.D1;  // (D0, D1) gradient of this element's kernel
  const DclsGauss<float> q = dcls_gauss(d, P, SIG, e);
  float Z = 0.f;
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) Z += dcls_gauss_value(q, r, c);
  Z += 1e-7f;
  float A = 0.f;  // dL/dweight
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) A += G[r * d.D1 + c] * (dcls_gauss_value(q, r, c) / Z);
  if (dweight) dweight[e] += A;
  if (!dP && !dSIG) return;
  const float w = weight[e];
  float px = 0.f, py = 0.f, sxx = 0.f, syy = 0.f;  // sum T_k (c-cx), (r-cy), (c-cx)^2, (r-cy)^2
  for (int64_t r = 0; r < d.D0; ++r) {
    const float dr = float(r) - q.cy;
    for (int64_t c = 0; c < d.D1; ++c) {
      const float dc = float(c) - q.cx;
      const float t = w * (dcls_gauss_value(q, r, c) / Z) * (G[r * d.D1 + c] - A);
      px += t * dc;
      py += t * dr;
      sxx += t * dc * dc;
      syy += t * dr * dr;
    }
  }
  if (dP) {
    dP[e] += px / (q.sx * q.sx);
    dP[second + e] += py / (q.sy * q.sy);
  }
  if (dSIG) {
    dSIG[e] += sign_or_zero(SIG[e]) * sxx / (q.sx * q.sx * q.sx);
    dSIG[second + e] += sign_or_zero(SIG[second + e]) * syy / (q.sy * q.sy * q.sy);
  }
}

}  // namespace

void dcls_construct_forward_cuda(const DclsDims& d, const float* weight, const float* P, const float* SIG, float* K) {
  const int64_t elements = d.M * d.Kc, cells = d.M * d.D0 * d.D1;
  if (cells == 0) return;
  if (elements == 0) {  // no elements: an all-zero kernel
    cuda::memset_zero(K, size_t(cells) * sizeof(float));
    return;
  }
  Tensor Z = Tensor::empty({elements}, DType::f32, Device::CUDA);  // (M * Kc) normalisers
  dcls_norm_kernel<<<cuda::grid_for(elements, kThreads), kThreads, 0, cuda::stream()>>>(d, P, SIG, Z.data<float>());
  CUDA_CHECK_LAUNCH();
  dcls_build_kernel<<<cuda::grid_for(cells, kThreads), kThreads, 0, cuda::stream()>>>(d, weight, P, SIG,
                                                                                       Z.data<float>(), K);
  CUDA_CHECK_LAUNCH();
}

void dcls_construct_backward_cuda(const DclsDims& d, const float* weight, const float* P, const float* SIG,
                                  const float* dK, float* dweight, float* dP, float* dSIG) {
  const int64_t elements = d.M * d.Kc;
  if (elements == 0) return;
  dcls_backward_kernel<<<cuda::grid_for(elements, kThreads), kThreads, 0, cuda::stream()>>>(d, weight, P, SIG, dK,
                                                                                            dweight, dP, dSIG);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::ops
