// ConvFormer-S18 audio taggers (models/convformer.*; shared/spec/models.md §2, §5.2, §6): PyTorch state-dict
// names/shapes/order, exact parameter counts, per-stage shapes of the full model on a 10 s clip, DCLS P/SIG
// stage sharing, initial values, gradients and the two drop paths per block on a small-width variant.
#include <catch2/catch.hpp>

#include "models/audio_model.h"
#include "model_checks.h"

using namespace engine;
using models::ModelConfig;
using test::find_tensor;

namespace {

ModelConfig small_config(const std::string& name) { return test::small_config(name, {8, 16, 24, 32}, 13); }

std::string key(int stage, int block, const std::string& leaf) {
  return "stages." + std::to_string(stage) + "." + std::to_string(block) + "." + leaf;
}

std::vector<float> constant(const Tensor& t, float v) { return std::vector<float>(size_t(t.numel()), v); }

}  // namespace

TEST_CASE("convformer: state dicts match PyTorch key for key and parameter counts are exact", "[model][convformer]") {
  test::check_full_model_listing("convformer_audio_s18", 241, 25797847);
  test::check_full_model_listing("convformer_dcls_audio_s18", 277, 25781207);
}

TEST_CASE("convformer dcls: one P/SIG pair per stage, aliased under every block; initial values",
          "[model][convformer]") {
  auto model = test::full_model("convformer_dcls_audio_s18");
  test::check_dcls_stage_sharing(*model, {3, 3, 9, 3}, [](int s, int b) { return key(s, b, "token_mixer.dwconv."); });
  const NamedTensors params = model->named_parameters();
  for (int s = 0; s < 4; ++s) {
    INFO("stage " << s);
    // Each StarReLU has its own scale 1 / bias 0; res_scale starts at 1 (stages 2-3 only).
    for (const char* act : {"token_mixer.act1", "mlp.act"}) {
      const Tensor scale = find_tensor(params, key(s, 0, std::string(act) + ".scale"));
      REQUIRE(scale.defined());
      CHECK(scale.to_vector<float>() == std::vector<float>{1.f});
      CHECK(find_tensor(params, key(s, 0, std::string(act) + ".bias")).to_vector<float>() == std::vector<float>{0.f});
      CHECK_FALSE(scale.is_same(find_tensor(params, key(s, 1, std::string(act) + ".scale"))));
    }
    const Tensor res = find_tensor(params, key(s, 0, "res_scale1.scale"));
    CHECK(res.defined() == (s >= 2));
    if (res.defined()) CHECK(res.to_vector<float>() == constant(res, 1.f));
  }
  const Tensor head_norm_bias = find_tensor(params, "head.norm.bias");
  CHECK(head_norm_bias.to_vector<float>() == constant(head_norm_bias, 0.f));
}

TEST_CASE("convformer: full-size models give the paper's stage shapes on a 10 s clip", "[model][convformer]") {
  for (const char* name : {"convformer_audio_s18", "convformer_dcls_audio_s18"}) {
    INFO(name);
    // Stage 2 is 16x16 and stage 3 8x8 (3x3 s2 p1 downsampling rounds up), unlike ConvNeXt's 16x15 / 8x7.
    test::check_full_model_shapes(*test::full_model(name), {{"stem", {1, 64, 62, 64}},
                                                            {"stage 0", {1, 64, 62, 64}},
                                                            {"stage 1", {1, 32, 31, 128}},
                                                            {"stage 2", {1, 16, 16, 320}},
                                                            {"stage 3", {1, 8, 8, 512}},
                                                            {"head", {1, 527}}});
  }
}

TEST_CASE("convformer small: backward reaches every parameter, shared P/SIG collect gradients",
          "[model][convformer]") {
  for (const char* name : {"convformer_audio_s18", "convformer_dcls_audio_s18"}) {
    INFO(name);
    auto model = models::create_model(small_config(name));  // no drop path
    const std::vector<models::StageShape> shapes = test::check_backward(*model, {2, 32, 160, 1});
    CHECK(shapes[0].shape == Shape{2, 16, 10, 8});
    CHECK(shapes[4].shape == Shape{2, 2, 2, 32});
    if (small_config(name).variant == models::Variant::dcls) {
      const NamedTensors sd = model->state_dict();
      const Tensor P0 = find_tensor(sd, key(2, 0, "token_mixer.dwconv.P"));
      const Tensor P1 = find_tensor(sd, key(2, 1, "token_mixer.dwconv.P"));
      CHECK(P1.is_same(P0));
      CHECK(P1.grad().is_same(P0.grad()));
    }
  }
}

TEST_CASE("convformer small: drop path is inactive in eval and draws twice per block in training",
          "[model][convformer]") {
  ModelConfig c = small_config("convformer_dcls_audio_s18");
  c.drop_path_rate = 0.5;
  auto model = models::create_model(c);
  const Tensor x = test::random_input({4, 32, 160, 1}, 9);  // (N, H, W, 1)
  test::check_drop_path(*model, x, 8);  // token mixer and mlp draw apart: 2 x 4 blocks with a non-zero rate
}
