// The six audio taggers against the paper's own PyTorch code, at reduced width and depth with the same
// code paths (tools/gen_model_golden.py; files in tests/data/models, their format in tests/model_golden.h).
// Each model: weights written by safetensors.torch.save_model loaded with load_module; eval logits within
// 1e-4 (inf-norm relative), FastViT's reparameterized model too; train-mode loss and every gradient within
// 1e-3; FastViT's BatchNorm running stats after the train step within 1e-4. Each test prints its errors and
// the worst gradient tensor. The full-size ConvNeXt-T-DCLS golden is tests/full_golden_main.cpp.
#include <catch2/catch.hpp>
#include <string>

#include "tests/model_golden.h"

namespace {
const std::string kDir = std::string(ENGINE_TEST_DATA_DIR) + "/models";
}

TEST_CASE("model golden: convnext_audio_tiny vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "convnext_audio_tiny");
}
TEST_CASE("model golden: convnext_dcls_audio_tiny vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "convnext_dcls_audio_tiny");
}
TEST_CASE("model golden: convformer_audio_s18 vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "convformer_audio_s18");
}
TEST_CASE("model golden: convformer_dcls_audio_s18 vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "convformer_dcls_audio_s18");
}
TEST_CASE("model golden: fastvit_audio_sa24 vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "fastvit_audio_sa24");
}
TEST_CASE("model golden: fastvit_dcls_audio_sa24 vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(kDir, "fastvit_dcls_audio_sa24");
}
