#include "models/tiny_convnet.h"

#include "engine/init.h"
#include "ops/activation.h"
#include "ops/drop_path.h"
#include "ops/elementwise.h"
#include "ops/pool.h"

namespace engine::models {

TinyBlock::TinyBlock(int c, double drop_path, Generator& gen) : drop_path_(drop_path) {
  ops::Conv2dParams same3x3;
  same3x3.pad_h = same3x3.pad_w = 1;
  same3x3.groups = c;
  gamma_ = register_parameter("gamma", Tensor::full({c}, 0.5));
  dwconv_ = register_module("dwconv", std::make_shared<nn::Conv2d>(c, c, 3, 3, same3x3, true, gen));
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(c, 1e-6));
  pwconv1_ = register_module("pwconv1", std::make_shared<nn::Linear>(c, 4 * c, true, gen));
  pwconv2_ = register_module("pwconv2", std::make_shared<nn::Linear>(4 * c, c, true, gen));
}

Tensor TinyBlock::forward(const Tensor& x, Generator& gen) const {
  Tensor y = dwconv_->forward(x);                                   // (N, H, W, C)
  y = norm_->forward(y);                                            // (N, H, W, C)
  y = pwconv2_->forward(ops::gelu(pwconv1_->forward(y)));           // (N, H, W, 4C) -> (N, H, W, C)
  y = ops::scale_channels(y, gamma_);                               // (N, H, W, C)
  y = ops::drop_path(y, drop_path_, is_training(), gen.seed, gen.next_offset());
  return ops::add(x, y);                                            // (N, H, W, C)
}

TinyConvNet::TinyConvNet(const TinyConvNetConfig& cfg, uint64_t seed) {
  Generator gen(seed);
  ops::Conv2dParams patchify;
  patchify.stride_h = 2;
  patchify.stride_w = 16;
  stem_ = register_module("stem", std::make_shared<nn::Conv2d>(1, cfg.channels, 2, 16, patchify, true, gen));
  stem_norm_ = register_module("stem_norm", std::make_shared<nn::LayerNorm>(cfg.channels, 1e-6));
  auto blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (int b = 0; b < cfg.depth; ++b) {
    double dp = cfg.depth > 1 ? cfg.drop_path * b / (cfg.depth - 1) : 0.0;
    blocks_.push_back(blocks->append(std::make_shared<TinyBlock>(cfg.channels, dp, gen)));
  }
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(cfg.channels, 1e-6));
  head_ = register_module("head", std::make_shared<nn::Linear>(cfg.channels, cfg.classes, true, gen));
}

Tensor TinyConvNet::forward(const Tensor& x, Generator& gen) const {
  Tensor y = stem_norm_->forward(stem_->forward(x));  // (N, H/2, W/16, C)
  for (const auto& block : blocks_) y = block->forward(y, gen);
  y = norm_->forward(ops::global_avg_pool(y));         // (N, C)
  return head_->forward(y);                            // (N, classes)
}

}  // namespace engine::models
