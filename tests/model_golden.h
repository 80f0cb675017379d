// One audio tagger against its PyTorch golden (tools/gen_model_golden.py: the paper's own model code).
// Used by tests/test_model_golden.cpp (the six small models in tests/data/models) and by
// tests/full_golden_main.cpp (the full-size ConvNeXt-T-DCLS, generated on demand).
//
// A golden directory holds input.safetensors (x (N, H, W, 1), target (N, K)) and per model
// <model>.weights.safetensors (safetensors.torch.save_model of the reference model) and
// <model>.golden.safetensors (logits, train_logits, loss, grad.<param>, running.<buffer>; metadata model,
// dims, depths, num_classes, input, zero_grads).
//
// Error measure: testing::max_rel_error, max|got - ref| / max|ref| per tensor (inf-norm relative).
// Two kinds of gradient are measured against the largest reference gradient of the model instead of their
// own size: those that are zero in exact arithmetic (metadata zero_grads: FastViT PatchEmbed proj.0 BN
// biases, whose shift both train-mode BNs of proj.1 remove), which hold rounding noise in the golden, and
// the BN-scale-invariant ones (bn_invariant_grads: one weight per channel feeding a train-mode BN, e.g.
// MobileOne's dw 1x1 rbr_scale), whose gradient is O(BN eps) and a cancelling sum: PyTorch's own f32 value
// is off by up to 6e-4 from the f64 result there (metadata torch_f32_vs_f64).
#pragma once
#include <string>

namespace engine::test {

constexpr double kGoldenEvalTol = 1e-4;   // eval logits (also after FastViT's reparameterization), running stats
constexpr double kGoldenTrainTol = 1e-3;  // train-mode logits, loss and every gradient
constexpr double kGoldenZeroGradTol = 1e-5;  // max|got - ref| / largest reference gradient, for those two

// Builds <model> with the golden's dims/depths/classes, loads its weights with load_module and checks the
// eval logits, the train-mode loss and gradients and (FastViT) the running stats after the train step.
// Prints one summary line with every error and the worst gradient tensor; fails the current Catch test
// when a bound is exceeded.
void check_model_golden(const std::string& dir, const std::string& model);

}  // namespace engine::test
