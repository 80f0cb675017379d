#include "models/dcls2d.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/init.h"
#include "ops/conv2d.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"

namespace engine::nn {

Dcls2d::Dcls2d(const Dcls2dConfig& c, Dcls2dInit init, Generator& gen, const Dcls2d* share_from) : config_(c) {
  USER_CHECK(c.in_channels > 0 && c.out_channels > 0 && c.groups > 0 && c.in_channels % c.groups == 0 &&
                 c.out_channels % c.groups == 0,
             "Dcls2d: channels (", c.in_channels, " in, ", c.out_channels, " out) must be positive multiples of groups ",
             c.groups);
  USER_CHECK(c.kernel_count >= 1 && c.dks_h >= 1 && c.dks_w >= 1, "Dcls2d: kernel_count ", c.kernel_count,
             " and dilated_kernel_size (", c.dks_h, ",", c.dks_w, ") must be >= 1");
  const int64_t Co = c.out_channels, Cig = c.in_channels / c.groups, Kc = c.kernel_count;
  const Shape pshape{2, Co, Cig, Kc};

  // Registration order = PyTorch's: weight, P, SIG, bias.
  weight = register_parameter("weight", Tensor::empty({Co, Cig, Kc}));  // (Co, Cin_g, Kc)
  if (share_from) {
    check_shape(share_from->P, pshape, "Dcls2d shared P");
    check_shape(share_from->SIG, pshape, "Dcls2d shared SIG");
    P = register_parameter("P", share_from->P, ParamRole::dcls_position);
    SIG = register_parameter("SIG", share_from->SIG, ParamRole::dcls_sigma);
  } else {
    P = register_parameter("P", Tensor::empty(pshape), ParamRole::dcls_position);           // (2, Co, Cin_g, Kc)
    SIG = register_parameter("SIG", Tensor::full(pshape, 0.23), ParamRole::dcls_sigma);  // (2, Co, Cin_g, Kc)
  }
  if (c.bias) bias = register_parameter("bias", Tensor::empty({Co}), ParamRole::bias);  // (Co)

  if (init == Dcls2dInit::dcls_default) {
    // kaiming_uniform_(a=sqrt(5)) on (Co, Cin_g, Kc) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias alike.
    const double bound = 1.0 / std::sqrt(double(Cig * Kc));
    init_uniform(weight, -bound, bound, gen);
    if (c.bias) init_uniform(bias, -bound, bound, gen);
  } else {
    init_normal(weight, 0.0, 0.02, gen);
    if (c.bias) init_constant(bias, 0.0);
  }
  if (!share_from) {
    init_normal(P, 0.0, 0.5, gen);
    std::vector<float> v = P.to_vector<float>();  // (2, Co, Cin_g, Kc)
    const size_t half = v.size() / 2;
    for (size_t i = 0; i < v.size(); ++i) {
      const float lim = float((i < half ? c.dks_h : c.dks_w) / 2);  // dks[0] // 2 for P[0], dks[1] // 2 for P[1]
      v[i] = std::clamp(v[i], -lim, lim);
    }
    P.copy_(Tensor::from_vector(v, pshape));
  }
}

Tensor Dcls2d::dense_kernel() const { return ops::dcls_construct(weight, P, SIG, config_.dks_h, config_.dks_w); }

Tensor Dcls2d::forward(const Tensor& x) const {
  const Dcls2dConfig& c = config_;
  Tensor K = dense_kernel();  // (Co, Cin_g, D0, D1)
  if (c.groups == c.in_channels && c.groups == c.out_channels)
    return ops::depthwise_conv2d(x, K, bias, ops::DepthwiseParams{c.stride_h, c.stride_w, c.pad_h, c.pad_w});
  ops::Conv2dParams p;
  p.stride_h = c.stride_h, p.stride_w = c.stride_w, p.pad_h = c.pad_h, p.pad_w = c.pad_w, p.groups = c.groups;
  return ops::conv2d(x, K, bias, p);
}

}  // namespace engine::nn
