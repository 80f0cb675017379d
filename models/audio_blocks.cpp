#include "models/audio_blocks.h"

#include "engine/check.h"
#include "engine/init.h"
#include "ops/depthwise_conv2d.h"
#include "ops/drop_path.h"

namespace engine::models {

DepthwiseConv2d::DepthwiseConv2d(int channels, int kernel, bool has_bias, Generator& gen) : pad_(kernel / 2) {
  weight = register_parameter("weight", Tensor::empty({channels, 1, kernel, kernel}));  // (C, 1, k, k)
  init_normal(weight, 0.0, 0.02, gen);
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({channels}), ParamRole::bias);  // (C)
}

Tensor DepthwiseConv2d::forward(const Tensor& x) const {
  return ops::depthwise_conv2d(x, weight, bias, ops::DepthwiseParams{1, 1, pad_, pad_});
}

Tensor DepthwiseConv::forward(const Tensor& x) const { return dcls ? dcls->forward(x) : dsc->forward(x); }

DepthwiseBuilder::DepthwiseBuilder(const ModelConfig& config)
    : variant_(config.variant), kernel_count_(config.dcls_kernel_count), span_(config.dcls_span) {
  USER_CHECK(variant_ == Variant::dsc || (kernel_count_ >= 1 && span_ >= 1 && span_ % 2 == 1),
             "model ", config.arch, ": DCLS needs kernel_count >= 1 and an odd span, got ", kernel_count_, " and ",
             span_);
}

DepthwiseConv DepthwiseBuilder::add(Module& parent, const std::string& name, int channels, bool bias,
                                    Generator& gen) {
  DepthwiseConv conv;
  if (variant_ == Variant::dsc) {
    conv.dsc = parent.register_module(name, std::make_shared<DepthwiseConv2d>(channels, 7, bias, gen));
    return conv;
  }
  // A narrower layer after a wider one would inherit P/SIG of the wrong shape (DCLS-Audio fails there too).
  USER_CHECK(channels >= widest_, "DCLS P/SIG stage sharing needs depthwise widths that never shrink, got ",
             channels, " channels after ", widest_);
  nn::Dcls2dConfig c;
  c.in_channels = c.out_channels = c.groups = channels;
  c.kernel_count = kernel_count_;
  c.dks_h = c.dks_w = span_;
  c.pad_h = c.pad_w = span_ / 2;
  c.bias = bias;
  const bool new_stage = channels > widest_;
  conv.dcls = parent.register_module(
      name, std::make_shared<nn::Dcls2d>(c, nn::Dcls2dInit::paper, gen, new_stage ? nullptr : owner_));
  if (new_stage) {
    widest_ = channels;
    owner_ = conv.dcls.get();
  }
  return conv;
}

std::vector<double> drop_path_rates(double rate, int n) {
  USER_CHECK(rate >= 0.0 && rate < 1.0, "drop_path_rate must be in [0, 1), got ", rate);
  std::vector<double> rates(size_t(n), 0.0);
  for (int i = 1; i < n; ++i) rates[size_t(i)] = rate * i / (n - 1);
  return rates;
}

Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen) {
  if (!training || p == 0.0) return x;
  return ops::drop_path(x, p, training, gen.seed, gen.next_offset());
}

}  // namespace engine::models
