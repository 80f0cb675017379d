#include "models/convnext.h"

#include <string>

#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/pool.h"

namespace engine::models::convnext {

namespace {
constexpr double kLnEps = 1e-6;
}  // namespace

ChannelNorm::ChannelNorm(Module& parent, const std::string& name, Norm norm, int channels) {
  if (norm == Norm::batch)
    batch_ = parent.register_module(name, std::make_shared<nn::BatchNorm2d>(channels));
  else
    layer_ = parent.register_module(name, std::make_shared<nn::LayerNorm>(channels, kLnEps));
}

Tensor ChannelNorm::forward(const Tensor& x) const { return layer_ ? layer_->forward(x) : batch_->forward(x); }

// Registration order is the state-dict order: gamma, dwconv, norm, pwconv1, pwconv2.
Block::Block(int dim, const ModelConfig& config, double drop_path, DepthwiseBuilder& dw, Generator& gen)
    : drop_path_(drop_path) {
  if (config.layer_scale_init > 0)
    gamma_ = register_parameter("gamma", Tensor::full({dim}, config.layer_scale_init));  // (C)
  dwconv_ = dw.add(*this, "dwconv", dim, /*bias=*/true, gen);
  norm_ = std::make_unique<ChannelNorm>(*this, "norm", config.norm, dim);
  pwconv1_ = register_module("pwconv1", std::make_shared<nn::Linear>(dim, 4 * dim, true, gen));
  pwconv2_ = register_module("pwconv2", std::make_shared<nn::Linear>(4 * dim, dim, true, gen));
}

Tensor Block::forward(const Tensor& x, Generator& gen) const {
  Tensor y = dwconv_.forward(x);              // (N, H, W, C)
  y = norm_->forward(y);                      // (N, H, W, C)
  y = ops::gelu(pwconv1_->forward(y));        // (N, H, W, 4C)
  y = pwconv2_->forward(y);                   // (N, H, W, C)
  if (gamma_.defined()) y = ops::scale_channels(y, gamma_);
  return ops::add(x, models::drop_path(y, drop_path_, is_training(), gen));  // (N, H, W, C)
}

Downsample::Downsample(int in_dim, int out_dim, bool stem, Norm norm, Generator& gen) : stem_(stem) {
  ops::Conv2dParams p;
  if (stem) {
    p.stride_h = 2, p.stride_w = 16;
    conv_ = register_module("0", std::make_shared<nn::Conv2d>(1, out_dim, 2, 16, p, true, gen));
    norm_ = std::make_unique<ChannelNorm>(*this, "1", norm, out_dim);
  } else {
    p.stride_h = p.stride_w = 2;
    norm_ = std::make_unique<ChannelNorm>(*this, "0", norm, in_dim);
    conv_ = register_module("1", std::make_shared<nn::Conv2d>(in_dim, out_dim, 2, 2, p, true, gen));
  }
}

Tensor Downsample::forward(const Tensor& x) const {
  if (stem_) return norm_->forward(conv_->forward(x));  // (N, H, W, 1) -> (N, H/2, W/16, C_0)
  return conv_->forward(norm_->forward(x));             // (N, H, W, Ci) -> (N, H/2, W/2, Co)
}

ConvNeXt::ConvNeXt(const ModelConfig& config) : AudioTagger(config) {
  const std::vector<int>& dims = config.dims;
  Generator gen(config.seed);
  DepthwiseBuilder dw(config);
  trunk_.build(
      *this, config,
      [&](int s) {
        return std::make_shared<Downsample>(s == 0 ? 1 : dims[s - 1], dims[s], /*stem=*/s == 0, config.norm, gen);
      },
      [&](int s, double rate) { return std::make_shared<Block>(dims[s], config, rate, dw, gen); });
  norm_ = std::make_unique<ChannelNorm>(*this, "norm", config.norm, dims[3]);
  head_ = register_module("head", std::make_shared<nn::Linear>(dims[3], config.num_classes, true, gen));
}

Tensor ConvNeXt::forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes) {
  Tensor y = trunk_.forward(x, gen, shapes);    // (N, H_3, W_3, C_3)
  y = norm_->forward(pool(y));  // (N, C_3)
  y = head_->forward(y);                        // (N, K)
  if (shapes) shapes->push_back({"head", y.shape()});
  return y;
}

namespace {
std::shared_ptr<AudioTagger> make_convnext(const ModelConfig& config) { return std::make_shared<ConvNeXt>(config); }
}  // namespace

}  // namespace engine::models::convnext

ENGINE_REGISTER_ARCH(convnext, engine::models::convnext::make_convnext);
