// 2-D batch normalisation (torch.nn.BatchNorm2d) on channels-last activations x: (N, H, W, C); the
// statistics of channel c run over the M = N*H*W positions.
//   training: mean_c = sum x / M, var_c = sum (x - mean_c)^2 / M (biased), used to normalise; the buffers
//             are updated in place with the UNBIASED variance:
//               running_mean = (1 - momentum) * running_mean + momentum * mean_c
//               running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)
//             and num_batches_tracked (i64, shape {}, optional) is incremented.
//   eval:     mean_c = running_mean, var_c = running_var; the buffers are left alone.
//   xhat = (x - mean_c) / sqrt(var_c + eps),  y = xhat * w + b   (w, b: (C), either may be undefined)
// Backward (mean and rstd = 1/sqrt(var + eps) per channel are saved by the forward):
//   dw = sum dy * xhat, db = sum dy;  g = dy * w
//   training: dx = rstd * (g - mean_M(g) - xhat * mean_M(g * xhat))   (the statistics depend on x)
//   eval:     dx = rstd * g                                           (the statistics are constants)
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace engine::ops {

struct BatchNormParams {
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};

Tensor batch_norm2d(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& running_mean,
                    const Tensor& running_var, const Tensor& num_batches_tracked, const BatchNormParams& p);

#ifdef ENGINE_CUDA
// Training statistics of x (M, C) into mean, rstd (C); updates running_mean, running_var (C) in place.
void batch_norm_train_stats_cuda(const float* x, float* mean, float* rstd, float* running_mean, float* running_var,
                                 int64_t M, int64_t C, float momentum, float eps);
// Eval statistics: mean = running_mean, rstd = 1/sqrt(running_var + eps).
void batch_norm_eval_stats_cuda(const float* running_mean, const float* running_var, float* mean, float* rstd,
                                int64_t C, float eps);
// y = (x - mean) * rstd * w + b; w, b may be null.
void batch_norm_forward_cuda(const float* x, const float* mean, const float* rstd, const float* w, const float* b,
                             float* y, int64_t M, int64_t C);
// Accumulates into dx, dw, db (each may be null). sums: (2, C) scratch for sum dy and sum dy*xhat.
void batch_norm_backward_cuda(bool training, const float* x, const float* w, const float* mean, const float* rstd,
                              const float* dy, float* dx, float* dw, float* db, float* sums, int64_t M, int64_t C);
// counter[0] += 1 (num_batches_tracked).
void increment_counter_cuda(int64_t* counter);
#endif

}  // namespace engine::ops
