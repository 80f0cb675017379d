// Thin layer modules over the ops, with PyTorch's parameter names (`weight`, `bias`) and layouts.
// Activations are channels-last: Conv2d maps (N, H, W, Ci) -> (N, Ho, Wo, Co); Linear and LayerNorm act
// on the last dimension.
#pragma once
#include <string>

#include "engine/module.h"
#include "engine/rng.h"
#include "ops/conv2d.h"

namespace engine::nn {

// A numbered list of children (torch.nn.ModuleList / Sequential naming: "0", "1", ...).
class ModuleList : public Module {
 public:
  template <class M>
  std::shared_ptr<M> append(std::shared_ptr<M> m) {
    return register_module(std::to_string(size_++), std::move(m));
  }
  int size() const { return size_; }

 private:
  int size_ = 0;
};

class Conv2d : public Module {
 public:
  // weight (Co, Ci/groups, kh, kw), bias (Co); initialised N(0, 0.02), bias 0 (the paper's models).
  Conv2d(int in_channels, int out_channels, int kernel_h, int kernel_w, ops::Conv2dParams params, bool bias,
         Generator& gen);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;

 private:
  ops::Conv2dParams params_;
};

class Linear : public Module {
 public:
  // weight (out, in), bias (out); initialised N(0, 0.02), bias 0.
  Linear(int in_features, int out_features, bool bias, Generator& gen);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
};

class LayerNorm : public Module {
 public:
  // Over the last dimension; weight 1, bias 0 (no bias for MetaFormer's LayerNormWithoutBias).
  LayerNorm(int channels, double eps, bool bias = true);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;

 private:
  double eps_;
};

// nn.BatchNorm2d(C): eps 1e-5, momentum 0.1, affine (weight 1, bias 0), running stats (mean 0, var 1)
// and num_batches_tracked; batch statistics in training mode, running ones in eval mode. On (N, H, W, C),
// or on (N, C) as nn.BatchNorm1d (the statistics run over the batch).
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels);
  Tensor forward(const Tensor& x) const;  // (N, H, W, C) or (N, C) -> same
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  static constexpr double kEps = 1e-5;
};

}  // namespace engine::nn
