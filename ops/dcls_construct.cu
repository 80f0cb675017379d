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
  Z[e] = dcls_gauss_norm(d, dcls_gauss(d, P, SIG, e));
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
    acc += dcls_gauss_weighted(dcls_gauss_value(dcls_gauss(d, P, SIG, e), r, c), Z[e], weight[e]);
  }
  K[i] = acc;
}

__global__ void dcls_backward_kernel(DclsDims d, const float* weight, const float* P, const float* SIG,
                                     const float* dK, float* dweight, float* dP, float* dSIG) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= d.M * d.Kc) return;
  const float* G = dK + (e / d.Kc) * d.D0 * d.D1;  // (D0, D1) gradient of this element's kernel
  const DclsGauss<float> q = dcls_gauss(d, P, SIG, e);
  const float Z = dcls_gauss_norm(d, q);
  float A = 0.f;  // dL/dweight
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) A += dcls_gauss_weighted(dcls_gauss_value(q, r, c), Z, G[r * d.D1 + c]);
  if (dweight) dweight[e] += A;
  if (!dP && !dSIG) return;
  const float w = weight[e];
  DclsGaussMoments<float> mo{};
  for (int64_t r = 0; r < d.D0; ++r)
    for (int64_t c = 0; c < d.D1; ++c) mo.add(q, r, c, w, dcls_gauss_value(q, r, c), Z, G[r * d.D1 + c], A);
  dcls_gauss_store_grad(d, q, mo, SIG, e, dP, dSIG);
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
