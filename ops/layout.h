// Layout ops.
//   permute(x, dims)   y = x.permute(dims) made contiguous, any rank up to 6: y.shape[i] = x.shape[dims[i]].
//                      Backward scatters the gradient back through the inverse permutation.
//   nchw_to_nhwc(x)    permute(x, {0, 2, 3, 1}): PyTorch layout (N, C, H, W) -> engine activations (N, H, W, C)
//   nhwc_to_nchw(x)    permute(x, {0, 3, 1, 2}): (N, H, W, C) -> (N, C, H, W)
//   reshape(x, shape)  differentiable view: shares x's storage (Tensor::view); same number of elements.
//                      Backward reshapes the gradient and accumulates it into x's.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace engine::ops {

Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor nchw_to_nhwc(const Tensor& x);
Tensor nhwc_to_nchw(const Tensor& x);
Tensor reshape(const Tensor& x, const Shape& shape);

constexpr int kMaxPermuteRank = 6;

// Index map of a permute: output element o (row-major over out_shape) reads input element
// sum_i coord_i(o) * in_stride[i], where in_stride[i] is the input stride of dimension dims[i].
struct PermuteMap {
  int rank = 0;
  int64_t out_shape[kMaxPermuteRank] = {};
  int64_t in_stride[kMaxPermuteRank] = {};
};

#ifdef ENGINE_CUDA
// y[o] = x[in(o)] for o < n.
void permute_forward_cuda(const PermuteMap& map, const float* x, float* y, int64_t n);
// dx[in(o)] += dy[o]; the map is a bijection, so no two threads touch one element.
void permute_backward_cuda(const PermuteMap& map, const float* dy, float* dx, int64_t n);
#endif

}  // namespace engine::ops
