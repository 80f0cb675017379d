// Building blocks shared by the audio taggers (shared/spec/models.md §0):
//   DepthwiseConv2d    torch.nn.Conv2d(C, C, k, padding=k//2, groups=C) on channels-last activations
//   DepthwiseBuilder   a block's depthwise conv in either variant: k x k (dsc) or DCLS-Gauss (dcls), the latter
//                      with P/SIG shared per stage exactly as DCLS-Audio's replace_depthwise_dcls shares them
//   drop_path_rates    timm's linspace(0, rate, n) stochastic-depth schedule
//   drop_path          drop path that draws its mask offset from the forward's Generator
//   StageTrunk         ConvNeXt's and ConvFormer's common layout: downsample_layers.s then stages.s.j
// Dimension legend: N batch, H rows (mel), W columns (frames), C channels.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/module.h"
#include "engine/rng.h"
#include "models/audio_model.h"
#include "models/dcls2d.h"
#include "models/layers.h"

namespace engine::models {

class DepthwiseConv2d : public Module {
 public:
  // weight (C, 1, k, k) ~ N(0, 0.02) (trunc_normal_(std=.02) in effect), bias (C) = 0 if enabled.
  DepthwiseConv2d(int channels, int kernel, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> (N, H, W, C), stride 1, "same" padding
  Tensor weight, bias;

 private:
  int pad_;
};

// One block's depthwise conv: exactly one of the two is set.
struct DepthwiseConv {
  std::shared_ptr<DepthwiseConv2d> dsc;
  std::shared_ptr<nn::Dcls2d> dcls;
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) -> (N, H, W, C)
};

// Builds the depthwise convs of one model, in named_modules() order.
//   dsc:  DepthwiseConv2d(C, 7, bias).
//   dcls: Dcls2d(C, C, kernel_count, span, padding span/2, groups C, bias as the 7x7 had), Dcls2dInit::paper.
//         A layer takes a new P/SIG pair only when C grows past the largest C seen so far; every other layer
//         re-uses the pair of the last layer that took one (one pair per stage for growing widths).
class DepthwiseBuilder {
 public:
  explicit DepthwiseBuilder(const ModelConfig& config);
  // Registers the conv as parent.<name> (e.g. "dwconv") and returns it.
  DepthwiseConv add(Module& parent, const std::string& name, int channels, bool bias, Generator& gen);

 private:
  Variant variant_;
  int kernel_count_, span_;
  int widest_ = 0;                         // largest C seen so far
  const nn::Dcls2d* owner_ = nullptr;     // the layer whose P/SIG the current stage shares
};

// torch.linspace(0, rate, n): rate * i / (n - 1), one rate per block over all stages.
std::vector<double> drop_path_rates(double rate, int n);

// ops::drop_path with the mask offset drawn from gen (seed, next_offset()) only when it is active
// (training and p > 0), so evaluation leaves the generator untouched.
Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen);

// The four-stage trunk ConvNeXt and ConvFormer share (models.md §1, §2):
//   downsample_layers.s   Down (s = 0: the stem)                          (N, H_s, W_s, C_s)
//   stages.s.j            depths[s] x Block, drop path rates from drop_path_rates over all blocks
// Down has forward(x), Block forward(x, gen); the model adds its final norm and head.
template <class Down, class Block>
class StageTrunk {
 public:
  // Registers parent.downsample_layers (make_down(s), s = 0..3), then parent.stages (make_block(s, rate) per
  // block of stage s): the state-dict order, and the order in which the layers draw their initial weights.
  template <class MakeDown, class MakeBlock>
  void build(Module& parent, const ModelConfig& config, MakeDown make_down, MakeBlock make_block) {
    const std::vector<int>& depths = config.depths;
    auto downsample_layers = parent.register_module("downsample_layers", std::make_shared<nn::ModuleList>());
    for (int s = 0; s < 4; ++s) downsamples_.push_back(downsample_layers->append(make_down(s)));
    const std::vector<double> rates =
        drop_path_rates(config.drop_path_rate, depths[0] + depths[1] + depths[2] + depths[3]);
    auto stages = parent.register_module("stages", std::make_shared<nn::ModuleList>());
    size_t block = 0;
    for (int s = 0; s < 4; ++s) {
      auto stage = stages->append(std::make_shared<nn::ModuleList>());
      stages_.emplace_back();
      for (int j = 0; j < depths[s]; ++j) stages_.back().push_back(stage->append(make_block(s, rates[block++])));
    }
  }

  // x (N, H, W, 1) -> (N, H_3, W_3, C_3); appends the "stem" and "stage s" shapes when shapes is given.
  Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes) const {
    Tensor y = x;  // (N, H, W, 1)
    for (int s = 0; s < 4; ++s) {
      y = downsamples_[size_t(s)]->forward(y);  // (N, H_s, W_s, C_s)
      if (shapes && s == 0) shapes->push_back({"stem", y.shape()});
      for (const auto& block : stages_[size_t(s)]) y = block->forward(y, gen);
      if (shapes) shapes->push_back({"stage " + std::to_string(s), y.shape()});
    }
    return y;
  }

 private:
  std::vector<std::shared_ptr<Down>> downsamples_;
  std::vector<std::vector<std::shared_ptr<Block>>> stages_;
};

}  // namespace engine::models
