// ConvNeXt-T audio tagger ("A ConvNet for the 2020s", Liu et al. 2022), as DCLS-Audio's models/convnext.py
// builds it (shared/spec/models.md §1), in both variants:
//   convnext_audio_tiny       depthwise 7x7 convs
//   convnext_dcls_audio_tiny  DCLS-Gauss convs (23x23 span, 26 elements), P/SIG shared per stage
//
// Dimension legend: N batch, H mel bins, W frames, C_s stage width, K classes.
//   x (N, H, W, 1)
//   downsample_layers.0: Conv2d k(2,16) s(2,16) -> LN          (N, H/2, W/16, C_0)   stem ("patchify")
//   stages.0:            depths[0] x Block                       (N, H/2, W/16, C_0)
//   downsample_layers.s: LN -> Conv2d k2 s2                      (N, H_s, W_s, C_s)    s = 1..3, H_s = H_{s-1}/2
//   stages.s:            depths[s] x Block                       (N, H_s, W_s, C_s)
//   norm(global average pool)                                    (N, C_3)
//   head: Linear                                                 (N, K)
// The paper's code keeps NCHW between blocks and uses a channels-first LayerNorm for the stem and the
// downsampling; on our channels-last activations that is the same LayerNorm over the last dimension.
// Every LayerNorm has eps 1e-6, weight and bias. With ModelConfig::norm = batch each of them is a BatchNorm
// (eps 1e-5, momentum 0.1) under the same name; the head's acts on (N, C) as BatchNorm1d.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/audio_blocks.h"
#include "models/audio_model.h"
#include "models/layers.h"

namespace engine::models::convnext {

// A normalisation layer of the model: exactly one of the two is set (ModelConfig::norm).
class ChannelNorm {
 public:
  // Registers the layer as parent.<name>.
  ChannelNorm(Module& parent, const std::string& name, Norm norm, int channels);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) or (N, C) -> same

 private:
  std::shared_ptr<nn::LayerNorm> layer_;
  std::shared_ptr<nn::BatchNorm2d> batch_;
};

// x + drop_path(gamma * pwconv2(GELU(pwconv1(norm(dwconv(x))))))
class Block : public Module {
 public:
  Block(int dim, const ModelConfig& config, double drop_path, DepthwiseBuilder& dw, Generator& gen);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> (N, H, W, C)

 private:
  Tensor gamma_;  // (C) layer scale; undefined when layer_scale_init <= 0
  DepthwiseConv dwconv_;
  std::unique_ptr<ChannelNorm> norm_;
  std::shared_ptr<nn::Linear> pwconv1_, pwconv2_;
  double drop_path_;
};

// downsample_layers.i: the stem [0] Conv2d(1, C_0, (2,16), stride (2,16)) [1] LN, or [0] LN [1] Conv2d k2 s2.
class Downsample : public Module {
 public:
  Downsample(int in_dim, int out_dim, bool stem, Norm norm, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, Ho, Wo, Co)

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::unique_ptr<ChannelNorm> norm_;
  bool stem_;
};

class ConvNeXt : public AudioTagger {
 public:
  explicit ConvNeXt(const ModelConfig& config);
  Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes = nullptr) override;

 private:
  StageTrunk<Downsample, Block> trunk_;
  std::unique_ptr<ChannelNorm> norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace engine::models::convnext
