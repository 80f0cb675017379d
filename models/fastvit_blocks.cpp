#include "models/fastvit_blocks.h"

#include <cmath>

#include "engine/check.h"
#include "engine/init.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/batch_norm.h"
#include "ops/channel_gate.h"
#include "ops/conv2d.h"
#include "ops/depthwise_conv2d.h"
#include "ops/elementwise.h"
#include "ops/layout.h"
#include "ops/linear.h"
#include "ops/pool.h"

namespace engine::models::fastvit {

namespace {

std::vector<double> host(const Tensor& t) { return t.to(Device::CPU).to(DType::f64).to_vector<double>(); }

KernelBias zero_kernel(int64_t co, int64_t cig, int64_t k) {
  KernelBias kb;
  kb.co = co, kb.cig = cig, kb.k = k;
  kb.w.assign(size_t(co * cig * k * k), 0.0);  // (Co, Ci/G, k, k)
  kb.b.assign(size_t(co), 0.0);                // (Co)
  return kb;
}

// Eval-mode BN after a bias-free conv with kernel `kb`: w * t and beta - mean * t, t = gamma / sqrt(var + eps)
// (MobileOneBlock._fuse_bn_tensor, ReparamLargeKernelConv._fuse_bn).
KernelBias fold_bn(KernelBias kb, const BatchNorm2d& bn) {
  const std::vector<double> gamma = host(bn.weight), beta = host(bn.bias);
  const std::vector<double> mean = host(bn.running_mean), var = host(bn.running_var);
  ENGINE_CHECK(int64_t(gamma.size()) == kb.co, "fold_bn: BN over ", gamma.size(), " channels, conv has ", kb.co);
  const size_t per_out = size_t(kb.cig * kb.k * kb.k);
  for (size_t o = 0; o < size_t(kb.co); ++o) {
    const double t = gamma[o] / std::sqrt(var[o] + BatchNorm2d::kEps);
    for (size_t i = 0; i < per_out; ++i) kb.w[o * per_out + i] *= t;
    kb.b[o] = beta[o] - mean[o] * t;
  }
  return kb;
}

KernelBias fold_conv_bn(const ConvBN& branch) {
  const ConvSpec& s = branch.conv->spec();
  ENGINE_CHECK(s.kh == s.kw, "fold_conv_bn: square kernels only");
  KernelBias kb = zero_kernel(s.out, s.in / s.groups, s.kh);
  kb.w = host(branch.conv->weight);
  return fold_bn(std::move(kb), *branch.bn);
}

// acc += term, the smaller kernel zero-padded to acc's size around the centre (the reference's F.pad).
void add_centred(KernelBias& acc, const KernelBias& term) {
  ENGINE_CHECK(acc.co == term.co && acc.cig == term.cig && term.k <= acc.k && (acc.k - term.k) % 2 == 0,
               "add_centred: kernels (", acc.co, ",", acc.cig, ",", acc.k, ") and (", term.co, ",", term.cig, ",",
               term.k, ") do not nest");
  const int64_t off = (acc.k - term.k) / 2;
  for (int64_t oi = 0; oi < acc.co * acc.cig; ++oi)
    for (int64_t r = 0; r < term.k; ++r)
      for (int64_t c = 0; c < term.k; ++c)
        acc.w[size_t((oi * acc.k + r + off) * acc.k + c + off)] += term.w[size_t((oi * term.k + r) * term.k + c)];
  for (int64_t o = 0; o < acc.co; ++o) acc.b[size_t(o)] += term.b[size_t(o)];
}

// Writes a fused kernel and bias into a conv built for it (converted to its dtype, on its device).
void store(const KernelBias& kb, Conv2d& dst) {
  const Shape wshape{kb.co, kb.cig, kb.k, kb.k};
  check_shape(dst.weight, wshape, "fused conv weight");
  dst.weight.copy_(Tensor::from_vector<double>(kb.w, wshape).to(dst.weight.dtype()));
  dst.bias.copy_(Tensor::from_vector<double>(kb.b, {kb.co}).to(dst.bias.dtype()));
}

// A (C, 1, 1) layer scale as the (C) vector ops::scale_channels takes (a differentiable view).
Tensor as_channels(const Tensor& layer_scale) { return ops::reshape(layer_scale, {layer_scale.size(0)}); }

Tensor layer_scale_param(Module& m, const std::string& name, int channels, double value) {
  return m.register_parameter(name, Tensor::full({channels, 1, 1}, value));  // (C, 1, 1)
}

}  // namespace

// ---- Conv2d, ConvBN -------------------------------------------------------------------

Conv2d::Conv2d(const ConvSpec& s, ConvInit init, Generator& gen) : spec_(s) {
  USER_CHECK(s.groups >= 1 && s.in % s.groups == 0 && s.out % s.groups == 0, "Conv2d: channels (", s.in, " in, ",
             s.out, " out) must be multiples of groups ", s.groups);
  weight = register_parameter("weight", Tensor::empty({s.out, s.in / s.groups, s.kh, s.kw}));  // (Co, Ci/G, kh, kw)
  if (s.bias) bias = register_parameter("bias", Tensor::empty({s.out}), ParamRole::bias);                       // (Co)
  if (init == ConvInit::trunc_normal) {
    init_normal(weight, 0.0, 0.02, gen);
    if (s.bias) init_constant(bias, 0.0);
  } else {
    // kaiming_uniform_(a=sqrt(5)) has bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in); the bias uses the same.
    const double bound = 1.0 / std::sqrt(double(s.in / s.groups * s.kh * s.kw));
    init_uniform(weight, -bound, bound, gen);
    if (s.bias) init_uniform(bias, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) const {
  const ConvSpec& s = spec_;
  const bool unit = s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
  if (s.kh == 1 && s.kw == 1 && unit && s.groups == 1)
    return ops::linear(x, ops::reshape(weight, {s.out, s.in}), bias);  // (N, H, W, Co)
  if (s.groups == s.in && s.in == s.out)
    return ops::depthwise_conv2d(x, weight, bias, ops::DepthwiseParams{s.stride_h, s.stride_w, s.pad_h, s.pad_w});
  return ops::conv2d(x, weight, bias, ops::Conv2dParams{s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.groups});
}

ConvBN::ConvBN(const ConvSpec& spec, Generator& gen) {
  ENGINE_CHECK(!spec.bias, "ConvBN: the conv has no bias");
  conv = register_module("conv", std::make_shared<Conv2d>(spec, ConvInit::torch_default, gen));
  bn = register_module("bn", std::make_shared<BatchNorm2d>(spec.out));
}

Tensor ConvBN::forward(const Tensor& x) const { return bn->forward(conv->forward(x)); }

// ---- SEBlock, MobileOneBlock, ReparamLargeKernelConv ------------------------------------------------

SEBlock::SEBlock(int c, Generator& gen) {
  const int hidden = int(double(c) * 0.0625);  // the reference's int(in_channels * rd_ratio)
  USER_CHECK(hidden >= 1, "FastViT SE block: ", c, " channels give int(", c, " * 0.0625) = 0 hidden channels");
  reduce = register_module("reduce", std::make_shared<Conv2d>(ConvSpec{c, hidden, 1, 1, 1, 1, 0, 0, 1, true},
                                                             ConvInit::torch_default, gen));
  expand = register_module("expand", std::make_shared<Conv2d>(ConvSpec{hidden, c, 1, 1, 1, 1, 0, 0, 1, true},
                                                             ConvInit::torch_default, gen));
}

Tensor SEBlock::forward(const Tensor& x) const {
  const int64_t N = x.size(0), C = x.size(3);
  Tensor s = ops::reshape(ops::global_avg_pool(x), {N, 1, 1, C});     // (N, 1, 1, C)
  s = ops::sigmoid(expand->forward(ops::relu(reduce->forward(s))));  // (N, 1, 1, C)
  return ops::channel_gate(x, ops::reshape(s, {N, C}));              // (N, H, W, C)
}

MobileOneBlock::MobileOneBlock(const MobileOneSpec& s, BuildContext& ctx) : spec_(s) {
  if (s.use_se) se_ = register_module("se", std::make_shared<SEBlock>(s.out, ctx.gen));
  const ConvSpec conv{s.in, s.out, s.kernel, s.kernel, s.stride, s.stride, s.padding, s.padding, s.groups, false};
  if (ctx.fused) {
    ConvSpec fused = conv;
    fused.bias = true;
    reparam_conv_ = register_module("reparam_conv", std::make_shared<Conv2d>(fused, ConvInit::torch_default, ctx.gen));
    return;
  }
  if (s.out == s.in && s.stride == 1) rbr_skip_ = register_module("rbr_skip", std::make_shared<BatchNorm2d>(s.in));
  if (s.num_conv_branches > 0) {
    auto list = register_module("rbr_conv", std::make_shared<nn::ModuleList>());
    for (int i = 0; i < s.num_conv_branches; ++i)
      rbr_conv_.push_back(list->append(std::make_shared<ConvBN>(conv, ctx.gen)));
  }
  if (s.kernel > 1 && s.use_scale_branch) {
    const ConvSpec scale{s.in, s.out, 1, 1, s.stride, s.stride, 0, 0, s.groups, false};
    rbr_scale_ = register_module("rbr_scale", std::make_shared<ConvBN>(scale, ctx.gen));
  }
}

Tensor MobileOneBlock::forward(const Tensor& x) const {
  Tensor out;  // (N, Ho, Wo, Co)
  if (reparam_conv_) {
    out = reparam_conv_->forward(x);
  } else {
    // The reference's summation order: (scale + skip) + conv branches.
    auto accumulate = [&out](const Tensor& t) { out = out.defined() ? ops::add(out, t) : t; };
    if (rbr_scale_) accumulate(rbr_scale_->forward(x));
    if (rbr_skip_) accumulate(rbr_skip_->forward(x));
    for (const auto& branch : rbr_conv_) accumulate(branch->forward(x));
    ENGINE_CHECK(out.defined(), "MobileOneBlock without any branch");
  }
  if (se_) out = se_->forward(out);
  return spec_.use_act ? ops::gelu(out) : out;
}

KernelBias MobileOneBlock::identity_kernel() const {
  const int64_t cig = spec_.in / spec_.groups, k = spec_.kernel;
  KernelBias id = zero_kernel(spec_.in, cig, k);
  for (int64_t i = 0; i < spec_.in; ++i) id.w[size_t(((i * cig + i % cig) * k + k / 2) * k + k / 2)] = 1.0;
  return id;
}

KernelBias MobileOneBlock::fused_kernel_bias() const {
  ENGINE_CHECK(!reparam_conv_, "MobileOneBlock is already fused");
  KernelBias kb = zero_kernel(spec_.out, spec_.in / spec_.groups, spec_.kernel);
  for (const auto& branch : rbr_conv_) add_centred(kb, fold_conv_bn(*branch));
  if (rbr_scale_) add_centred(kb, fold_conv_bn(*rbr_scale_));
  if (rbr_skip_) add_centred(kb, fold_bn(identity_kernel(), *rbr_skip_));
  return kb;
}

void MobileOneBlock::fuse_from(const MobileOneBlock& trained) {
  ENGINE_CHECK(reparam_conv_, "MobileOneBlock::fuse_from needs a block built fused");
  store(trained.fused_kernel_bias(), *reparam_conv_);
}

ReparamLargeKernelConv::ReparamLargeKernelConv(int in, int out, int k, int stride, int groups, int small,
                                               BuildContext& ctx) {
  if (ctx.fused) {
    const ConvSpec fused{in, out, k, k, stride, stride, k / 2, k / 2, groups, true};
    lkb_reparam_ = register_module("lkb_reparam", std::make_shared<Conv2d>(fused, ConvInit::torch_default, ctx.gen));
    return;
  }
  const ConvSpec large{in, out, k, k, stride, stride, k / 2, k / 2, groups, false};
  const ConvSpec small_spec{in, out, small, small, stride, stride, small / 2, small / 2, groups, false};
  lkb_origin_ = register_module("lkb_origin", std::make_shared<ConvBN>(large, ctx.gen));
  small_conv_ = register_module("small_conv", std::make_shared<ConvBN>(small_spec, ctx.gen));
}

Tensor ReparamLargeKernelConv::forward(const Tensor& x) const {
  if (lkb_reparam_) return lkb_reparam_->forward(x);
  return ops::add(lkb_origin_->forward(x), small_conv_->forward(x));  // (N, Ho, Wo, Co)
}

void ReparamLargeKernelConv::fuse_from(const ReparamLargeKernelConv& trained) {
  ENGINE_CHECK(lkb_reparam_ && trained.lkb_origin_, "ReparamLargeKernelConv::fuse_from: fused <- train-time");
  KernelBias kb = fold_conv_bn(*trained.lkb_origin_);
  add_centred(kb, fold_conv_bn(*trained.small_conv_));
  store(kb, *lkb_reparam_);
}

// ---- RepMixer, ConvFFN, RepMixerBlock --------------------------------------------------------------

RepMixer::RepMixer(int c, int k, BuildContext& ctx) {
  if (ctx.fused) {
    const ConvSpec fused{c, c, k, k, 1, 1, k / 2, k / 2, c, true};
    reparam_conv_ = register_module("reparam_conv", std::make_shared<Conv2d>(fused, ConvInit::torch_default, ctx.gen));
    return;
  }
  layer_scale_ = layer_scale_param(*this, "layer_scale", c, ctx.config.layer_scale_init);
  norm_ = register_module("norm", std::make_shared<MobileOneBlock>(
                                      MobileOneSpec{c, c, k, 1, k / 2, c, false, false, false, 0}, ctx));
  mixer_ = register_module("mixer", std::make_shared<MobileOneBlock>(
                                        MobileOneSpec{c, c, k, 1, k / 2, c, false, false, true, 1}, ctx));
}

Tensor RepMixer::forward(const Tensor& x) const {
  if (reparam_conv_) return reparam_conv_->forward(x);
  const int64_t C = x.size(3);
  // mixer(x) - norm(x) as mixer(x) + (-1) * norm(x): the same floats, with the existing ops.
  const Tensor minus_one = Tensor::full({C}, -1.0, x.dtype(), x.device());                      // (C)
  Tensor d = ops::add(mixer_->forward(x), ops::scale_channels(norm_->forward(x), minus_one));  // (N, H, W, C)
  return ops::add(x, ops::scale_channels(d, as_channels(layer_scale_)));
}

void RepMixer::fuse_from(const RepMixer& trained) {
  ENGINE_CHECK(reparam_conv_ && trained.mixer_, "RepMixer::fuse_from: fused <- train-time");
  // w = id + layer_scale * (w_mixer - w_norm), b = layer_scale * (b_mixer - b_norm) (RepMixer.reparameterize).
  const KernelBias m = trained.mixer_->fused_kernel_bias(), n = trained.norm_->fused_kernel_bias();
  KernelBias kb = trained.mixer_->identity_kernel();
  const std::vector<double> ls = host(trained.layer_scale_);  // (C)
  const size_t per_out = size_t(kb.cig * kb.k * kb.k);
  for (size_t o = 0; o < size_t(kb.co); ++o) {
    for (size_t i = o * per_out; i < (o + 1) * per_out; ++i) kb.w[i] += ls[o] * (m.w[i] - n.w[i]);
    kb.b[o] = ls[o] * (m.b[o] - n.b[o]);
  }
  store(kb, *reparam_conv_);
}

ConvFFN::ConvFFN(int c, int hidden, BuildContext& ctx) {
  auto seq = register_module("conv", std::make_shared<Module>());  // nn.Sequential(conv, bn)
  dw_ = ctx.depthwise.add(*seq, "conv", c, false, ctx.gen);  // dsc: N(0, 0.02) as trunc_normal_
  bn_ = seq->register_module("bn", std::make_shared<BatchNorm2d>(c));
  fc1_ = register_module(
      "fc1", std::make_shared<Conv2d>(ConvSpec{c, hidden, 1, 1, 1, 1, 0, 0, 1, true}, ConvInit::trunc_normal, ctx.gen));
  fc2_ = register_module(
      "fc2", std::make_shared<Conv2d>(ConvSpec{hidden, c, 1, 1, 1, 1, 0, 0, 1, true}, ConvInit::trunc_normal, ctx.gen));
}

Tensor ConvFFN::forward(const Tensor& x) const {
  Tensor y = bn_->forward(dw_.forward(x));          // (N, H, W, C)
  return fc2_->forward(ops::gelu(fc1_->forward(y)));  // (N, H, W, hidden) -> (N, H, W, C)
}

RepMixerBlock::RepMixerBlock(int c, int k, double drop_path, BuildContext& ctx) : drop_path_(drop_path) {
  layer_scale_ = layer_scale_param(*this, "layer_scale", c, ctx.config.layer_scale_init);
  token_mixer_ = register_module("token_mixer", std::make_shared<RepMixer>(c, k, ctx));
  convffn_ = register_module("convffn", std::make_shared<ConvFFN>(c, 4 * c, ctx));
}

Tensor RepMixerBlock::forward(const Tensor& x, Generator& gen) const {
  Tensor y = token_mixer_->forward(x);                                             // (N, H, W, C)
  Tensor f = ops::scale_channels(convffn_->forward(y), as_channels(layer_scale_));  // (N, H, W, C)
  return ops::add(y, drop_path(f, drop_path_, is_training(), gen));
}

// ---- MHSA, AttentionBlock ---------------------------------------------------------------------------

MHSA::MHSA(int c, Generator& gen) : heads_(c / kHeadDim) {
  USER_CHECK(c % kHeadDim == 0, "FastViT attention: width ", c, " is not a multiple of the head dim ", kHeadDim);
  qkv_ = register_module("qkv", std::make_shared<nn::Linear>(c, 3 * c, false, gen));
  proj_ = register_module("proj", std::make_shared<nn::Linear>(c, c, true, gen));
}

Tensor MHSA::forward(const Tensor& x) const {
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  Tensor t = ops::reshape(x, {N, H * W, C});                         // (N, T, C), token h*W + w
  Tensor a = ops::self_attention(qkv_->forward(t), heads_);          // (N, T, 3C) -> (N, T, C)
  return ops::reshape(proj_->forward(a), {N, H, W, C});              // (N, H, W, C)
}

AttentionBlock::AttentionBlock(int c, double drop_path, BuildContext& ctx) : drop_path_(drop_path) {
  layer_scale_1_ = layer_scale_param(*this, "layer_scale_1", c, ctx.config.layer_scale_init);
  layer_scale_2_ = layer_scale_param(*this, "layer_scale_2", c, ctx.config.layer_scale_init);
  norm_ = register_module("norm", std::make_shared<BatchNorm2d>(c));
  token_mixer_ = register_module("token_mixer", std::make_shared<MHSA>(c, ctx.gen));
  convffn_ = register_module("convffn", std::make_shared<ConvFFN>(c, 4 * c, ctx));
}

Tensor AttentionBlock::forward(const Tensor& x, Generator& gen) const {
  Tensor a = ops::scale_channels(token_mixer_->forward(norm_->forward(x)), as_channels(layer_scale_1_));  // (N,H,W,C)
  Tensor y = ops::add(x, drop_path(a, drop_path_, is_training(), gen));
  Tensor f = ops::scale_channels(convffn_->forward(y), as_channels(layer_scale_2_));  // (N, H, W, C)
  return ops::add(y, drop_path(f, drop_path_, is_training(), gen));
}

// ---- PatchEmbed, RepCPE -----------------------------------------------------------------------------

PatchEmbed::PatchEmbed(int in, int out, BuildContext& ctx) {
  auto proj = register_module("proj", std::make_shared<nn::ModuleList>());
  lkc_ = proj->append(std::make_shared<ReparamLargeKernelConv>(in, out, 7, 2, in, 3, ctx));
  pw_ = proj->append(std::make_shared<MobileOneBlock>(MobileOneSpec{out, out, 1, 1, 0, 1, false, true, true, 1}, ctx));
}

Tensor PatchEmbed::forward(const Tensor& x) const { return pw_->forward(lkc_->forward(x)); }

void PatchEmbed::fuse_from(const PatchEmbed& trained) {
  lkc_->fuse_from(*trained.lkc_);
  pw_->fuse_from(*trained.pw_);
}

RepCPE::RepCPE(int c, BuildContext& ctx) {
  if (ctx.fused) {
    // The DCLS variant's fused kernel is the built dense span x span kernel.
    const int k = ctx.config.variant == Variant::dcls ? ctx.config.dcls_span : 7;
    const ConvSpec fused{c, c, k, k, 1, 1, k / 2, k / 2, c, true};
    reparam_conv_ = register_module("reparam_conv", std::make_shared<Conv2d>(fused, ConvInit::torch_default, ctx.gen));
    return;
  }
  pe_ = ctx.depthwise.add(*this, "pe", c, true, ctx.gen);
  if (pe_.dsc) {
    // The baseline pe keeps nn.Conv2d's default init (the DCLS one gets the paper's): U(+-1/sqrt(49)).
    init_uniform(pe_.dsc->weight, -1.0 / 7.0, 1.0 / 7.0, ctx.gen);
    init_uniform(pe_.dsc->bias, -1.0 / 7.0, 1.0 / 7.0, ctx.gen);
  }
}

Tensor RepCPE::forward(const Tensor& x) const {
  if (reparam_conv_) return reparam_conv_->forward(x);
  return ops::add(pe_.forward(x), x);  // (N, H, W, C)
}

void RepCPE::fuse_from(const RepCPE& trained) {
  ENGINE_CHECK(reparam_conv_ && !trained.reparam_conv_, "RepCPE::fuse_from: fused <- train-time");
  const ConvSpec& s = reparam_conv_->spec();
  KernelBias kb = zero_kernel(s.out, 1, s.kh);
  const DepthwiseConv& pe = trained.pe_;
  kb.w = host(pe.dcls ? pe.dcls->dense_kernel() : pe.dsc->weight);  // (C, 1, k, k)
  kb.b = host(pe.dcls ? pe.dcls->bias : pe.dsc->bias);              // (C)
  ENGINE_CHECK(kb.w.size() == size_t(kb.co * kb.k * kb.k), "RepCPE::fuse_from: kernel size mismatch");
  for (int64_t c = 0; c < kb.co; ++c) kb.w[size_t((c * kb.k + kb.k / 2) * kb.k + kb.k / 2)] += 1.0;  // + identity
  store(kb, *reparam_conv_);
}

}  // namespace engine::models::fastvit
