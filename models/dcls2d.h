// Dcls2d, version "gauss": the DCLS layer of dcls 0.1.1 (shared/spec/dcls.md §A) as an engine Module.
//   K = dcls_construct(weight, P, SIG, D0, D1)      dense kernel (Co, Cin_g, D0, D1), dcls.md §A.3
//   y = conv2d(x, K, bias, stride, padding, groups)  x (N, H, W, Cin) -> y (N, Ho, Wo, Co), channels-last
// The depthwise case (groups == Cin == Co, DCLS-Audio's) runs ops::depthwise_conv2d, any other the dense
// ops::conv2d. Parameters, with PyTorch's state-dict names and layouts:
//   weight (Co, Cin_g, Kc), P (2, Co, Cin_g, Kc), SIG (2, Co, Cin_g, Kc), bias (Co) if enabled.
// Stage sharing (dcls.md §C.2): a layer built with `share_from` registers the SAME P and SIG tensors as that
// layer (one TensorImpl), so backward sums every sharing layer's gradient into them, Module::state_dict()
// lists them under every layer's name and named_parameters() once, as PyTorch does.
#pragma once
#include "engine/module.h"
#include "engine/rng.h"

namespace engine::nn {

struct Dcls2dConfig {
  int in_channels = 1, out_channels = 1;
  int kernel_count = 26;
  int dks_h = 23, dks_w = 23;  // dilated_kernel_size: D0 = kernel rows, D1 = kernel columns
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int groups = 1;
  bool bias = true;
};

// How weight and bias are drawn; P and SIG are the same in both (dcls.md §A.2):
//   P[i] ~ N(0, 0.5) clamped to +-(dks[i] // 2) with dks[0] = D0, dks[1] = D1 (as upstream, although P[0]
//   acts along the D1 columns), SIG = 0.23.
enum class Dcls2dInit {
  dcls_default,  // reset_parameters(): weight, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = Cin_g * Kc
  paper,         // DCLS-Audio's replace_depthwise_dcls: weight ~ N(0, 0.02) (not truncated), bias = 0
};

class Dcls2d : public Module {
 public:
  // Random numbers come from engine::init (Philox, reproducible across platforms) in this order:
  // weight, bias (dcls_default only), P (one draw for the whole tensor), unless P/SIG are shared.
  // With `share_from`, P and SIG are that layer's tensors; shapes must agree.
  Dcls2d(const Dcls2dConfig& config, Dcls2dInit init, Generator& gen, const Dcls2d* share_from = nullptr);

  Tensor forward(const Tensor& x) const;  // (N, H, W, Cin) -> (N, Ho, Wo, Co)
  Tensor dense_kernel() const;            // (Co, Cin_g, D0, D1), with autograd
  const Dcls2dConfig& config() const { return config_; }

  Tensor weight, P, SIG, bias;

 private:
  Dcls2dConfig config_;
};

}  // namespace engine::nn
