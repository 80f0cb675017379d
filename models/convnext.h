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
// Every LayerNorm has eps 1e-6, weight and bias.
#pragma once
#include <memory>
#include <vector>

#include "models/audio_blocks.h"
#include "models/audio_model.h"
#include "models/layers.h"

namespace engine::models::convnext {

// x + drop_path(gamma * pwconv2(GELU(pwconv1(norm(dwconv(x))))))
class Block : public Module {
 public:
  Block(int dim, double drop_path, double layer_scale_init, DepthwiseBuilder& dw, Generator& gen);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> (N, H, W, C)

 private:
  Tensor gamma_;  // (C) layer scale; undefined when layer_scale_init <= 0
  DepthwiseConv dwconv_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> pwconv1_, pwconv2_;
  double drop_path_;
};

// downsample_layers.i: the stem [0] Conv2d(1, C_0, (2,16), stride (2,16)) [1] LN, or [0] LN [1] Conv2d k2 s2.
class Downsample : public nn::ModuleList {
 public:
  Downsample(int in_dim, int out_dim, bool stem, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, Ho, Wo, Co)

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::LayerNorm> norm_;
  bool stem_;
};

class ConvNeXt : public AudioTagger {
 public:
  explicit ConvNeXt(const ModelConfig& config);
  Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes = nullptr) override;

 private:
  StageTrunk<Downsample, Block> trunk_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace engine::models::convnext
