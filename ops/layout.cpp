#include "ops/layout.h"

#include <string>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(permute);
ENGINE_REGISTER_OP(reshape);

namespace engine::ops {

namespace {

// Input offset of output element o.
inline int64_t permute_source(const PermuteMap& map, int64_t o) {
  int64_t src = 0;
  for (int d = map.rank - 1; d >= 0; --d) {
    src += (o % map.out_shape[d]) * map.in_stride[d];
    o /= map.out_shape[d];
  }
  return src;
}

// ---- CPU reference -------------------------------------------------------------------------------

template <class T>
void permute_forward_cpu(const PermuteMap& map, const T* x, T* y, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t o = 0; o < n; ++o) y[o] = x[permute_source(map, o)];
}

template <class T>
void permute_backward_cpu(const PermuteMap& map, const T* dy, T* dx, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t o = 0; o < n; ++o) dx[permute_source(map, o)] += dy[o];
}

void permute_forward(const PermuteMap& map, const Tensor& x, Tensor& y) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    permute_forward_cuda(map, x.data<float>(), y.data<float>(), y.numel());
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    permute_forward_cpu<T>(map, x.data<T>(), y.data<T>(), y.numel());
  });
}

void permute_backward(const PermuteMap& map, const Tensor& dy, Tensor& dx) {
  if (dy.is_cuda()) {
#ifdef ENGINE_CUDA
    permute_backward_cuda(map, dy.data<float>(), dx.data<float>(), dy.numel());
#endif
    return;
  }
  dispatch_cpu_float(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    permute_backward_cpu<T>(map, dy.data<T>(), dx.data<T>(), dy.numel());
  });
}

std::string dims_str(const std::vector<int>& dims) {
  Shape s(dims.begin(), dims.end());
  return shape_str(s);
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  check_float_op("permute", {&x});
  const int rank = int(x.dim());
  USER_CHECK(rank <= kMaxPermuteRank, "permute: rank ", rank, " exceeds the supported ", kMaxPermuteRank);
  USER_CHECK(int(dims.size()) == rank, "permute: dims ", dims_str(dims), " do not match shape ", shape_str(x.shape()));
  bool seen[kMaxPermuteRank] = {};
  for (int d : dims) {
    USER_CHECK(d >= 0 && d < rank && !seen[d], "permute: dims ", dims_str(dims), " are not a permutation of 0..",
               rank - 1);
    seen[d] = true;
  }
  int64_t x_stride[kMaxPermuteRank];  // row-major strides of x
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    x_stride[d] = stride;
    stride *= x.shape()[size_t(d)];
  }
  PermuteMap map;
  map.rank = rank;
  Shape y_shape(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    map.out_shape[i] = y_shape[size_t(i)] = x.shape()[size_t(dims[size_t(i)])];
    map.in_stride[i] = x_stride[dims[size_t(i)]];
  }
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());  // x.shape permuted by dims
  permute_forward(map, x, y);
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([map, x, y]() {
      Tensor dy = y.grad();  // x.shape permuted by dims
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // x.shape
      permute_backward(map, dy, dx);
    });
  }
  return y;
}

Tensor nchw_to_nhwc(const Tensor& x) {
  USER_CHECK(x.dim() == 4, "nchw_to_nhwc: expected a (N, C, H, W) tensor, got shape ", shape_str(x.shape()));
  return permute(x, {0, 2, 3, 1});
}

Tensor nhwc_to_nchw(const Tensor& x) {
  USER_CHECK(x.dim() == 4, "nhwc_to_nchw: expected a (N, H, W, C) tensor, got shape ", shape_str(x.shape()));
  return permute(x, {0, 3, 1, 2});
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  for (int64_t d : shape) USER_CHECK(d >= 0, "reshape: negative dimension in ", shape_str(shape));
  USER_CHECK(shape_numel(shape) == x.numel(), "reshape: cannot view shape ", shape_str(x.shape()), " as ",
             shape_str(shape));
  Tensor y = x.view(shape);  // shape, sharing x's storage
  if (autograd::needs_grad({&x})) {
    y.set_requires_grad(true);
    autograd::record([x, y]() {
      Tensor dy = y.grad();  // shape
      if (!dy.defined()) return;
      Tensor dx = x.grad_or_zeros();  // x.shape
      autograd::accumulate(dx, dy.view(x.shape()));
    });
  }
  return y;
}

}  // namespace engine::ops
