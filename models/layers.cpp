#include "models/layers.h"

#include "engine/init.h"
#include "ops/batch_norm.h"
#include "ops/layer_norm.h"
#include "ops/layout.h"
#include "ops/linear.h"

namespace engine::nn {

Conv2d::Conv2d(int in_channels, int out_channels, int kernel_h, int kernel_w, ops::Conv2dParams params, bool has_bias,
               Generator& gen)
    : params_(params) {
  USER_CHECK(params.groups > 0 && in_channels % params.groups == 0, "Conv2d: ", in_channels,
             " input channels not divisible by groups ", params.groups);
  weight = register_parameter("weight", Tensor::empty({out_channels, in_channels / params.groups, kernel_h, kernel_w}));
  init_normal(weight, 0.0, 0.02, gen);
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({out_channels}), ParamRole::bias);
}

Tensor Conv2d::forward(const Tensor& x) const { return ops::conv2d(x, weight, bias, params_); }

Linear::Linear(int in_features, int out_features, bool has_bias, Generator& gen) {
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  init_normal(weight, 0.0, 0.02, gen);
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({out_features}), ParamRole::bias);
}

Tensor Linear::forward(const Tensor& x) const { return ops::linear(x, weight, bias); }

LayerNorm::LayerNorm(int channels, double eps, bool has_bias) : eps_(eps) {
  weight = register_parameter("weight", Tensor::full({channels}, 1.0));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({channels}), ParamRole::bias);
}

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm(x, weight, bias, eps_); }

BatchNorm2d::BatchNorm2d(int c) {
  weight = register_parameter("weight", Tensor::full({c}, 1.0));                          // (C)
  bias = register_parameter("bias", Tensor::zeros({c}), ParamRole::bias);                 // (C)
  running_mean = register_buffer("running_mean", Tensor::zeros({c}));                     // (C)
  running_var = register_buffer("running_var", Tensor::full({c}, 1.0));                   // (C)
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));  // []
}

Tensor BatchNorm2d::forward(const Tensor& x) const {
  const ops::BatchNormParams p{is_training(), 0.1, kEps};
  if (x.dim() == 2)  // (N, C): BatchNorm1d's statistics over the batch, as (N, 1, 1, C)
    return ops::reshape(ops::batch_norm2d(ops::reshape(x, {x.size(0), 1, 1, x.size(1)}), weight, bias, running_mean,
                                          running_var, num_batches_tracked, p),
                        x.shape());
  return ops::batch_norm2d(x, weight, bias, running_mean, running_var, num_batches_tracked, p);
}

}  // namespace engine::nn
