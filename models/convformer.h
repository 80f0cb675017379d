// ConvFormer-S18 audio tagger ("MetaFormer Baselines for Vision", Yu et al. 2022), as DCLS-Audio's
// models/metaformer.py builds it (shared/spec/models.md §2), in both variants:
//   convformer_audio_s18       depthwise 7x7 in the token mixer
//   convformer_dcls_audio_s18  DCLS-Gauss (23x23 span, 26 elements) there, P/SIG shared per stage
//
// Dimension legend: N batch, H mel bins, W frames, C_s stage width, K classes. Channels-last throughout, as
// the paper's code (which permutes to NCHW only inside the convolutions).
//   x (N, H, W, 1)
//   downsample_layers.0: conv k(2,16) s(2,16), no bias -> post_norm     (N, H/2, W/16, C_0)   stem
//   stages.0:            depths[0] x MetaFormerBlock                      (N, H/2, W/16, C_0)
//   downsample_layers.s: pre_norm -> conv k3 s2 p1, bias                  (N, H_s, W_s, C_s)    H_s = ceil(H_{s-1}/2)
//   stages.s:            depths[s] x MetaFormerBlock                      (N, H_s, W_s, C_s)
//   norm(global average pool)                                             (N, C_3)
//   head: MlpHead                                                         (N, K)
// MetaFormerBlock:
//   x = res_scale1(x) + drop_path1(token_mixer(norm1(x)))    token_mixer = SepConv
//   x = res_scale2(x) + drop_path2(mlp(norm2(x)))
// Norms: every LayerNorm in the trunk has eps 1e-6 and no bias (LayerNormGeneral(bias=False) in the
// downsampling, LayerNormWithoutBias in the blocks: the same function). The final `norm` (eps 1e-6) and the
// head's norm (eps 1e-5) have biases. main.py's layer_scale_init_value is swallowed by MetaFormer's **kwargs,
// so ModelConfig::layer_scale_init does not apply here; res_scale (stages 2-3) starts at 1.
#pragma once
#include <memory>
#include <vector>

#include "models/audio_blocks.h"
#include "models/audio_model.h"
#include "models/layers.h"

namespace engine::models::convformer {

// StarReLU: y = scale * relu(x)^2 + bias, with its own learnable scalars scale (1) = 1 and bias (1) = 0.
class StarReLU : public Module {
 public:
  StarReLU();
  Tensor forward(const Tensor& x) const;  // any shape
  Tensor scale, bias;
};

// Scale: y[..., c] = x[..., c] * scale[c], scale (C) = 1 (res_scale).
class Scale : public Module {
 public:
  explicit Scale(int dim);
  Tensor forward(const Tensor& x) const;  // (..., C)
  Tensor scale;
};

// Inverted separable convolution (MobileNetV2), expansion 2, no biases:
//   pwconv2(dwconv(StarReLU(pwconv1(x))))
class SepConv : public Module {
 public:
  SepConv(int dim, DepthwiseBuilder& dw, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> (N, H, W, C)

 private:
  std::shared_ptr<nn::Linear> pwconv1_, pwconv2_;
  std::shared_ptr<StarReLU> act1_;
  DepthwiseConv dwconv_;
};

// fc2(StarReLU(fc1(x))), hidden 4C, no biases (dropouts are 0).
class Mlp : public Module {
 public:
  Mlp(int dim, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (..., C) -> (..., C)

 private:
  std::shared_ptr<nn::Linear> fc1_, fc2_;
  std::shared_ptr<StarReLU> act_;
};

// Classification head: fc2(norm(SquaredReLU(fc1(x)))), hidden 4C, biases, norm eps 1e-5.
class MlpHead : public Module {
 public:
  MlpHead(int dim, int num_classes, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, C) -> (N, K)

 private:
  std::shared_ptr<nn::Linear> fc1_, fc2_;
  std::shared_ptr<nn::LayerNorm> norm_;
};

class MetaFormerBlock : public Module {
 public:
  // res_scale: stages 2-3 (res_scale_init_values [None, None, 1.0, 1.0]).
  MetaFormerBlock(int dim, double drop_path, bool res_scale, DepthwiseBuilder& dw, Generator& gen);
  Tensor forward(const Tensor& x, Generator& gen) const;  // (N, H, W, C) -> (N, H, W, C)

 private:
  std::shared_ptr<nn::LayerNorm> norm1_, norm2_;
  std::shared_ptr<SepConv> token_mixer_;
  std::shared_ptr<Mlp> mlp_;
  std::shared_ptr<Scale> res_scale1_, res_scale2_;  // null in stages 0-1 (Identity)
  double drop_path_;                                // drop_path1 and drop_path2 share the rate, draw apart
};

// Downsampling: pre_norm -> conv -> post_norm; the stem has only post_norm, the others only pre_norm.
class Downsampling : public Module {
 public:
  Downsampling(int in_dim, int out_dim, bool stem, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, Ci) -> (N, Ho, Wo, Co)

 private:
  std::shared_ptr<nn::LayerNorm> pre_norm_, post_norm_;  // either may be null (Identity)
  std::shared_ptr<nn::Conv2d> conv_;
};

class ConvFormer : public AudioTagger {
 public:
  explicit ConvFormer(const ModelConfig& config);
  Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes = nullptr) override;

 private:
  StageTrunk<Downsampling, MetaFormerBlock> trunk_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<MlpHead> head_;
};

}  // namespace engine::models::convformer
