// FastViT building blocks (DCLS-Audio models/fastvit.py, modules/mobileone.py, modules/replknet.py;
// shared/spec/models.md §3), channels-last, with the reference's module and parameter names.
//
// Every block exists in two forms, chosen at construction:
//   train-time  - the multi-branch structure the paper trains (BatchNorm everywhere, layer scales);
//   fused       - what the reference's reparameterize() leaves for inference: each MobileOneBlock,
//                 RepMixer, ReparamLargeKernelConv and RepCPE is one convolution with a bias. Its
//                 parameters come from fuse_from(train-time block) (eval-mode BatchNorm folded in).
// ConvFFN (dw conv + BN) and the attention block's BN stay unfused, as in the reference.
//
// Dimension legend: N batch, H rows (mel), W columns (frames), C channels (Ci in, Co out), G groups,
// k kernel size, T = H*W tokens.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/module.h"
#include "engine/rng.h"
#include "models/audio_blocks.h"
#include "models/audio_model.h"
#include "models/dcls2d.h"
#include "models/layers.h"

namespace engine::models::fastvit {

// How a convolution's weight and bias are drawn (models.md §4).
enum class ConvInit {
  trunc_normal,   // weight N(0, 0.02), bias 0: the stem and the ConvFFN convs (trunc_normal_ at +-100 sigma)
  torch_default,  // nn.Conv2d.reset_parameters: weight and bias U(+-1/sqrt(fan_in)), fan_in = Ci/G * kh * kw
};

struct ConvSpec {
  int in = 1, out = 1, kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, groups = 1;
  bool bias = false;
};

// nn.Conv2d: weight (Co, Ci/G, kh, kw), bias (Co). The forward picks the engine op for the shape:
// a 1x1 stride-1 ungrouped conv is a linear layer over C, a depthwise one (G = Ci = Co) runs
// ops::depthwise_conv2d, anything else (grouped PatchEmbed/conv_exp convs, the stem) ops::conv2d.
class Conv2d : public Module {
 public:
  Conv2d(const ConvSpec& spec, ConvInit init, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, Ho, Wo, Co)
  const ConvSpec& spec() const { return spec_; }
  Tensor weight, bias;

 private:
  ConvSpec spec_;
};

using nn::BatchNorm2d;

// nn.Sequential(conv (no bias), bn): MobileOne's and RepLKNet's _conv_bn.
class ConvBN : public Module {
 public:
  ConvBN(const ConvSpec& spec, Generator& gen);  // spec.bias must be false; conv init torch_default
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

// A convolution's parameters on the host in double, for fusion: w (Co, Ci/G, k, k), b (Co).
struct KernelBias {
  int64_t co = 0, cig = 0, k = 0;
  std::vector<double> w, b;
};

// State shared while one model is built: the config, the init generator, the form (train-time or fused)
// and the builder of the depthwise 7x7 / DCLS convs (P/SIG stage sharing in named_modules order).
struct BuildContext {
  const ModelConfig& config;
  Generator& gen;
  bool fused;
  DepthwiseBuilder depthwise;
};

// ---- MobileOne / RepLKNet reparameterisable convs ------------------------------------------------

struct MobileOneSpec {
  int in = 1, out = 1, kernel = 1, stride = 1, padding = 0, groups = 1;
  bool use_se = false, use_act = true, use_scale_branch = true;
  int num_conv_branches = 1;
};

// SEBlock(C): s = sigmoid(expand(relu(reduce(avgpool(x))))), y = x * s per sample and channel;
// reduce 1x1 C -> int(C * 0.0625) and expand back, both with bias.
class SEBlock : public Module {
 public:
  SEBlock(int channels, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> same
  std::shared_ptr<Conv2d> reduce, expand;
};

// MobileOneBlock: train-time out = rbr_scale(x) + rbr_skip(x) + sum rbr_conv[i](x) with
//   rbr_skip  BN(Ci)                  if Ci == Co and stride 1
//   rbr_conv  k x k conv (groups) + BN, num_conv_branches of them
//   rbr_scale 1x1 conv (groups) + BN  if k > 1 and use_scale_branch
// fused: out = reparam_conv(x) (k x k, groups, bias). Then act(se(out)): SE if use_se, GELU if use_act.
class MobileOneBlock : public Module {
 public:
  MobileOneBlock(const MobileOneSpec& spec, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, Ho, Wo, Co)
  KernelBias fused_kernel_bias() const;   // train-time form -> one conv (eval-mode BN folded)
  KernelBias identity_kernel() const;     // the unscaled one-hot skip kernel (Co, Ci/G, k, k), bias 0
  void fuse_from(const MobileOneBlock& trained);

 private:
  MobileOneSpec spec_;
  std::shared_ptr<SEBlock> se_;
  std::shared_ptr<BatchNorm2d> rbr_skip_;
  std::vector<std::shared_ptr<ConvBN>> rbr_conv_;
  std::shared_ptr<ConvBN> rbr_scale_;
  std::shared_ptr<Conv2d> reparam_conv_;
};

// ReparamLargeKernelConv (PatchEmbed proj.0): lkb_origin (k x k conv + BN) + small_conv (3x3 conv + BN),
// both stride s and groups G, no activation after the sum (the reference comments it out); fused:
// lkb_reparam (k x k, bias).
class ReparamLargeKernelConv : public Module {
 public:
  ReparamLargeKernelConv(int in, int out, int kernel, int stride, int groups, int small_kernel, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, H/s, W/s, Co)
  void fuse_from(const ReparamLargeKernelConv& trained);

 private:
  std::shared_ptr<ConvBN> lkb_origin_, small_conv_;
  std::shared_ptr<Conv2d> lkb_reparam_;
};

// ---- FastViT blocks ------------------------------------------------------------------------------

// RepMixer(C): train-time x + layer_scale * (mixer(x) - norm(x)) with
//   norm  = MobileOneBlock(C, C, k, groups C, skip only)          = BN(x)
//   mixer = MobileOneBlock(C, C, k, groups C, no act)            = BN(x) + BN(dw kxk(x)) + BN(dw 1x1(x));
// fused: reparam_conv(x), dw k x k with bias, the identity included.
class RepMixer : public Module {
 public:
  RepMixer(int channels, int kernel, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> same
  void fuse_from(const RepMixer& trained);

 private:
  Tensor layer_scale_;  // (C, 1, 1)
  std::shared_ptr<MobileOneBlock> norm_, mixer_;
  std::shared_ptr<Conv2d> reparam_conv_;
};

// ConvFFN(C, hidden): conv.conv (depthwise 7x7 no bias, or DCLS) -> conv.bn -> fc1 (1x1, bias) -> GELU
// -> fc2 (1x1, bias); dropouts are 0. Never fused.
class ConvFFN : public Module {
 public:
  ConvFFN(int channels, int hidden, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> same

 private:
  DepthwiseConv dw_;
  std::shared_ptr<BatchNorm2d> bn_;
  std::shared_ptr<Conv2d> fc1_, fc2_;
};

// RepMixerBlock(C): x = token_mixer(x); x = x + drop_path(layer_scale * convffn(x)).
class RepMixerBlock : public Module {
 public:
  RepMixerBlock(int channels, int kernel, double drop_path, BuildContext& ctx);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> same
  void fuse_from(const RepMixerBlock& trained) { token_mixer_->fuse_from(*trained.token_mixer_); }

 private:
  Tensor layer_scale_;  // (C, 1, 1)
  std::shared_ptr<RepMixer> token_mixer_;
  std::shared_ptr<ConvFFN> convffn_;
  double drop_path_;
};

// MHSA(C): head_dim 32, heads C / 32; qkv Linear(C, 3C, no bias) -> softmax((q / sqrt(32)) k^T) v over
// T = H*W tokens in row-major order (h*W + w) -> proj Linear(C, C, bias).
class MHSA : public Module {
 public:
  MHSA(int channels, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> same
  static constexpr int kHeadDim = 32;

 private:
  std::shared_ptr<nn::Linear> qkv_, proj_;
  int heads_;
};

// AttentionBlock(C): x = x + drop_path(layer_scale_1 * MHSA(BN(x)));
//                    x = x + drop_path(layer_scale_2 * convffn(x))   (two independent masks).
class AttentionBlock : public Module {
 public:
  AttentionBlock(int channels, double drop_path, BuildContext& ctx);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> same

 private:
  Tensor layer_scale_1_, layer_scale_2_;  // (C, 1, 1)
  std::shared_ptr<BatchNorm2d> norm_;
  std::shared_ptr<MHSA> token_mixer_;
  std::shared_ptr<ConvFFN> convffn_;
  double drop_path_;
};

// PatchEmbed(Ci -> Co): proj.0 = ReparamLargeKernelConv(k 7, stride 2, groups Ci, small 3),
// proj.1 = MobileOneBlock(Co, Co, 1) with GELU.
class PatchEmbed : public Module {
 public:
  PatchEmbed(int in, int out, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, ceil(H/2), ceil(W/2), Co)
  void fuse_from(const PatchEmbed& trained);

 private:
  std::shared_ptr<ReparamLargeKernelConv> lkc_;
  std::shared_ptr<MobileOneBlock> pw_;
};

// RepCPE(C): x + pe(x), pe = depthwise 7x7 with bias (or its DCLS replacement, which then owns the stage's
// P/SIG); fused: reparam_conv(x), a depthwise conv with bias whose kernel is pe's (the built 23x23 DCLS
// kernel for the dcls variant) plus 1 at the centre.
class RepCPE : public Module {
 public:
  RepCPE(int channels, BuildContext& ctx);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> same
  void fuse_from(const RepCPE& trained);

 private:
  DepthwiseConv pe_;
  std::shared_ptr<Conv2d> reparam_conv_;
};

}  // namespace engine::models::fastvit
