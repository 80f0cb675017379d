#include "models/convformer.h"

#include <string>

#include "ops/activation.h"
#include "ops/elementwise.h"
#include "ops/pool.h"

namespace engine::models::convformer {

namespace {
constexpr double kTrunkEps = 1e-6;  // every trunk norm and the final norm
constexpr double kHeadEps = 1e-5;   // MlpHead's nn.LayerNorm default
}  // namespace

StarReLU::StarReLU() {
  scale = register_parameter("scale", Tensor::full({1}, 1.0));  // (1)
  bias = register_parameter("bias", Tensor::zeros({1}), ParamRole::bias);        // (1)
}

Tensor StarReLU::forward(const Tensor& x) const { return ops::star_relu(x, scale, bias); }

Scale::Scale(int dim) { scale = register_parameter("scale", Tensor::full({dim}, 1.0)); }  // (C)

Tensor Scale::forward(const Tensor& x) const { return ops::scale_channels(x, scale); }

SepConv::SepConv(int dim, DepthwiseBuilder& dw, Generator& gen) {
  const int med = 2 * dim;
  pwconv1_ = register_module("pwconv1", std::make_shared<nn::Linear>(dim, med, false, gen));
  act1_ = register_module("act1", std::make_shared<StarReLU>());
  dwconv_ = dw.add(*this, "dwconv", med, /*bias=*/false, gen);
  pwconv2_ = register_module("pwconv2", std::make_shared<nn::Linear>(med, dim, false, gen));
}

Tensor SepConv::forward(const Tensor& x) const {
  Tensor y = act1_->forward(pwconv1_->forward(x));  // (N, H, W, 2C)
  y = dwconv_.forward(y);                           // (N, H, W, 2C); act2 is Identity
  return pwconv2_->forward(y);                      // (N, H, W, C)
}

Mlp::Mlp(int dim, Generator& gen) {
  fc1_ = register_module("fc1", std::make_shared<nn::Linear>(dim, 4 * dim, false, gen));
  act_ = register_module("act", std::make_shared<StarReLU>());
  fc2_ = register_module("fc2", std::make_shared<nn::Linear>(4 * dim, dim, false, gen));
}

Tensor Mlp::forward(const Tensor& x) const {
  Tensor h = act_->forward(fc1_->forward(x));  // (..., 4C)
  return fc2_->forward(h);                     // (..., C)
}

MlpHead::MlpHead(int dim, int num_classes, Generator& gen) {
  fc1_ = register_module("fc1", std::make_shared<nn::Linear>(dim, 4 * dim, true, gen));
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(4 * dim, kHeadEps));
  fc2_ = register_module("fc2", std::make_shared<nn::Linear>(4 * dim, num_classes, true, gen));
}

Tensor MlpHead::forward(const Tensor& x) const {
  Tensor h = ops::squared_relu(fc1_->forward(x));  // (N, 4C)
  h = norm_->forward(h);                           // (N, 4C)
  return fc2_->forward(h);                         // (N, K)
}

// Registration order is the state-dict order: norm1, token_mixer, res_scale1, norm2, mlp, res_scale2.
MetaFormerBlock::MetaFormerBlock(int dim, double drop_path, bool res_scale, DepthwiseBuilder& dw, Generator& gen)
    : drop_path_(drop_path) {
  norm1_ = register_module("norm1", std::make_shared<nn::LayerNorm>(dim, kTrunkEps, /*bias=*/false));
  token_mixer_ = register_module("token_mixer", std::make_shared<SepConv>(dim, dw, gen));
  if (res_scale) res_scale1_ = register_module("res_scale1", std::make_shared<Scale>(dim));
  norm2_ = register_module("norm2", std::make_shared<nn::LayerNorm>(dim, kTrunkEps, /*bias=*/false));
  mlp_ = register_module("mlp", std::make_shared<Mlp>(dim, gen));
  if (res_scale) res_scale2_ = register_module("res_scale2", std::make_shared<Scale>(dim));
}

Tensor MetaFormerBlock::forward(const Tensor& x, Generator& gen) const {
  Tensor branch = token_mixer_->forward(norm1_->forward(x));               // (N, H, W, C)
  branch = models::drop_path(branch, drop_path_, is_training(), gen);
  Tensor y = ops::add(res_scale1_ ? res_scale1_->forward(x) : x, branch);  // (N, H, W, C)
  branch = mlp_->forward(norm2_->forward(y));                              // (N, H, W, C)
  branch = models::drop_path(branch, drop_path_, is_training(), gen);
  return ops::add(res_scale2_ ? res_scale2_->forward(y) : y, branch);      // (N, H, W, C)
}

Downsampling::Downsampling(int in_dim, int out_dim, bool stem, Generator& gen) {
  ops::Conv2dParams p;
  if (stem) {
    p.stride_h = 2, p.stride_w = 16;
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(1, out_dim, 2, 16, p, /*bias=*/false, gen));
    post_norm_ = register_module("post_norm", std::make_shared<nn::LayerNorm>(out_dim, kTrunkEps, false));
  } else {
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    pre_norm_ = register_module("pre_norm", std::make_shared<nn::LayerNorm>(in_dim, kTrunkEps, false));
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(in_dim, out_dim, 3, 3, p, /*bias=*/true, gen));
  }
}

Tensor Downsampling::forward(const Tensor& x) const {
  Tensor y = pre_norm_ ? pre_norm_->forward(x) : x;  // (N, H, W, Ci)
  y = conv_->forward(y);                             // (N, Ho, Wo, Co)
  return post_norm_ ? post_norm_->forward(y) : y;
}

ConvFormer::ConvFormer(const ModelConfig& config) : AudioTagger(config) {
  const std::vector<int>& dims = config.dims;
  Generator gen(config.seed);
  DepthwiseBuilder dw(config);
  trunk_.build(
      *this, config,
      [&](int s) { return std::make_shared<Downsampling>(s == 0 ? 1 : dims[s - 1], dims[s], /*stem=*/s == 0, gen); },
      [&](int s, double rate) {
        return std::make_shared<MetaFormerBlock>(dims[s], rate, /*res_scale=*/s >= 2, dw, gen);
      });
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(dims[3], kTrunkEps));
  head_ = register_module("head", std::make_shared<MlpHead>(dims[3], config.num_classes, gen));
}

Tensor ConvFormer::forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes) {
  Tensor y = trunk_.forward(x, gen, shapes);    // (N, H_3, W_3, C_3)
  y = norm_->forward(pool(y));  // (N, C_3)
  y = head_->forward(y);                        // (N, K)
  if (shapes) shapes->push_back({"head", y.shape()});
  return y;
}

namespace {
std::shared_ptr<AudioTagger> make_convformer(const ModelConfig& config) {
  return std::make_shared<ConvFormer>(config);
}
}  // namespace

}  // namespace engine::models::convformer

ENGINE_REGISTER_ARCH(convformer, engine::models::convformer::make_convformer);
