// A small ConvNeXt-shaped tagger built from the foundation ops, for the smoke demo and the training test:
//   stem Conv2d k(2,16) s(2,16) -> LN -> [grouped 3x3 conv -> LN -> Linear(C,4C) -> GELU -> Linear(4C,C)
//   -> layer scale -> drop path -> residual] x depth -> global average pool -> LN -> Linear(C, classes).
// Input (N, H, W, 1) log-mel patches, output (N, classes) logits.
#pragma once
#include <memory>
#include <vector>

#include "models/layers.h"

namespace engine::models {

struct TinyConvNetConfig {
  int channels = 16;
  int depth = 2;
  int classes = 8;
  double drop_path = 0.1;  // linear schedule 0 .. drop_path over blocks
};

class TinyBlock : public Module {
 public:
  TinyBlock(int channels, double drop_path, Generator& gen);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> same

 private:
  std::shared_ptr<nn::Conv2d> dwconv_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> pwconv1_, pwconv2_;
  Tensor gamma_;  // (C) layer scale
  double drop_path_;
};

class TinyConvNet : public Module {
 public:
  TinyConvNet(const TinyConvNetConfig& config, uint64_t seed);
  // x (N, H, W, 1) -> logits (N, classes); `gen` supplies drop-path offsets in training mode.
  Tensor forward(const Tensor& x, Generator& gen) const;

 private:
  std::shared_ptr<nn::Conv2d> stem_;
  std::shared_ptr<nn::LayerNorm> stem_norm_, norm_;
  std::vector<std::shared_ptr<TinyBlock>> blocks_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace engine::models
