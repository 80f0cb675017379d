// FastViT-SA24 audio taggers, fastvit_audio_sa24 and fastvit_dcls_audio_sa24 (DCLS-Audio models/fastvit.py;
// shared/spec/models.md §3), channels-last:
//   patch_embed  Conv2d(1, C0, (2,16), stride (2,16), no bias)            (N, H/2, W/16, C0), nothing after it
//   network.0    RepMixerBlock(C0) x depths[0]
//   network.1    PatchEmbed(C0 -> C1)                                     H, W halved (ceil)
//   network.2    RepMixerBlock(C1) x depths[1]
//   network.3    PatchEmbed(C1 -> C2)
//   network.4    RepMixerBlock(C2) x depths[2]
//   network.5    PatchEmbed(C2 -> C3)
//   network.6    RepCPE(C3)
//   network.7    AttentionBlock(C3) x depths[3]
//   conv_exp     MobileOneBlock(C3 -> 2 C3, 3x3, groups C3, SE) + GELU -> global average pool
//   head         Linear(2 C3, K)
// Block i of all stages (0-based, n blocks in all) has drop-path rate drop_path_rate * i / (n - 1).
// The DCLS variant replaces every depthwise 7x7 (the ConvFFN convs and RepCPE's pe) by nn::Dcls2d, P/SIG
// shared per stage, RepCPE owning stage 3's pair (network.6.pe.P).
//
// Dimension legend: N batch, H mel bins, W frames, C channels (C0..C3 per stage), K classes.
#pragma once
#include <memory>
#include <vector>

#include "models/audio_model.h"
#include "models/fastvit_blocks.h"

namespace engine::models {

class FastViT : public AudioTagger {
 public:
  // Train-time structure, or (fused = true) the reference's inference structure whose weights
  // reparameterized() fills. Widths must let every PatchEmbed group its input (C_{s+1} a multiple of C_s),
  // C3 must be a multiple of the head dim 32, and the DCLS variant needs C_{s+1} > C_s (the reference
  // would replace an equal-width PatchEmbed conv and break).
  explicit FastViT(const ModelConfig& config, bool fused = false);

  // x (N, H, W, 1) -> (N, K). Shapes: "stem", "stage 0".."stage 3" (after each stage's blocks), "head".
  Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes = nullptr) override;

  // The reference's reparameterize_model: a new model (eval mode, on this model's device) in which every
  // RepMixer is one depthwise kxk conv with bias (identity included), every MobileOneBlock one conv with
  // bias, every ReparamLargeKernelConv one grouped 7x7 with bias and RepCPE one depthwise conv with bias
  // plus the identity (for DCLS: the built span x span kernel). BatchNorms are folded with their running
  // statistics; ConvFFN's and the attention blocks' BN stay. This model is left unchanged.
  std::shared_ptr<FastViT> reparameterized() const;
  bool fused() const { return fused_; }

 private:
  bool fused_;
  std::shared_ptr<fastvit::Conv2d> patch_embed_;
  std::vector<std::vector<std::shared_ptr<fastvit::RepMixerBlock>>> mixer_stages_;  // stages 0..2
  std::vector<std::shared_ptr<fastvit::PatchEmbed>> downsamples_;                     // into stages 1..3
  std::shared_ptr<fastvit::RepCPE> cpe_;
  std::vector<std::shared_ptr<fastvit::AttentionBlock>> attention_blocks_;  // stage 3
  std::shared_ptr<fastvit::MobileOneBlock> conv_exp_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace engine::models
