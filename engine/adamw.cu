#include "engine/adamw.h"
#include "engine/cuda_context.h"

namespace engine {

namespace {
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamWScalars s) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float pi = p[i] * (1.f - s.lr * s.weight_decay);
  float gi = g[i];
  float mi = m[i] + (1.f - s.beta1) * (gi - m[i]);
  float vi = s.beta2 * v[i] + (1.f - s.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = pi - (s.lr / s.bias_correction1) * mi / (sqrtf(vi) / s.bias_correction2_sqrt + s.eps);
}
}  // namespace

void adamw_update_cuda(float* p, const float* g, float* m, float* v, int64_t n, AdamWScalars s) {
  if (n == 0) return;
  adamw_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p, g, m, v, n, s);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine
