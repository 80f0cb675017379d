// ConvFormer-S18 audio taggers (models/convformer.*; shared/spec/models.md §2, §5.2, §6): PyTorch state-dict
// names/shapes/order, exact parameter counts, per-stage shapes of the full model on a 10 s clip, DCLS P/SIG
// stage sharing, initial values, gradients and the two drop paths per block on a small-width variant.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "models/audio_model.h"
#include "ops/bce_loss.h"
#include "model_checks.h"

using namespace engine;
using models::ModelConfig;

namespace {

ModelConfig small_config(const std::string& name) {
  ModelConfig c = models::default_config(name);
  c.dims = {8, 16, 24, 32};
  c.depths = {1, 1, 2, 1};
  c.num_classes = 5;
  c.seed = 13;
  return c;
}

std::string key(int stage, int block, const std::string& leaf) {
  return "stages." + std::to_string(stage) + "." + std::to_string(block) + "." + leaf;
}

Tensor find(const NamedTensors& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return t;
  return Tensor();
}

std::vector<float> constant(const Tensor& t, float v) { return std::vector<float>(size_t(t.numel()), v); }

}  // namespace

TEST_CASE("convformer: state dicts match PyTorch key for key and parameter counts are exact", "[model][convformer]") {
  auto dsc = test::full_model("convformer_audio_s18");
  CHECK(dsc->name() == "convformer_audio_s18");
  test::check_state_dict_listing(*dsc, "convformer_audio_s18", 241);
  CHECK(dsc->num_parameters() == 25797847);

  auto dcls = test::full_model("convformer_dcls_audio_s18");
  CHECK(dcls->name() == "convformer_dcls_audio_s18");
  test::check_state_dict_listing(*dcls, "convformer_dcls_audio_s18", 277);
  CHECK(dcls->num_parameters() == 25781207);
}

TEST_CASE("convformer dcls: one P/SIG pair per stage, aliased under every block; initial values",
          "[model][convformer]") {
  auto model = test::full_model("convformer_dcls_audio_s18");
  const NamedTensors sd = model->state_dict();
  const NamedTensors params = model->named_parameters();
  const int depths[4] = {3, 3, 9, 3};
  Tensor previous_P;
  for (int s = 0; s < 4; ++s) {
    INFO("stage " << s);
    const Tensor P = find(sd, key(s, 0, "token_mixer.dwconv.P"));
    const Tensor SIG = find(sd, key(s, 0, "token_mixer.dwconv.SIG"));
    REQUIRE(P.defined());
    CHECK(find(params, key(s, 0, "token_mixer.dwconv.P")).is_same(P));
    for (int b = 1; b < depths[s]; ++b) {
      CHECK(find(sd, key(s, b, "token_mixer.dwconv.P")).is_same(P));
      CHECK(find(sd, key(s, b, "token_mixer.dwconv.SIG")).is_same(SIG));
      CHECK_FALSE(find(params, key(s, b, "token_mixer.dwconv.P")).defined());
    }
    if (previous_P.defined()) CHECK_FALSE(P.is_same(previous_P));
    previous_P = P;
    float max_abs_P = 0.f;
    for (float v : P.to_vector<float>()) max_abs_P = std::max(max_abs_P, std::abs(v));
    CHECK(max_abs_P <= 11.f);
    CHECK(max_abs_P > 1.f);
    CHECK(SIG.to_vector<float>() == constant(SIG, 0.23f));
    // Each StarReLU has its own scale 1 / bias 0; res_scale starts at 1 (stages 2-3 only).
    for (const char* act : {"token_mixer.act1", "mlp.act"}) {
      const Tensor scale = find(params, key(s, 0, std::string(act) + ".scale"));
      REQUIRE(scale.defined());
      CHECK(scale.to_vector<float>() == std::vector<float>{1.f});
      CHECK(find(params, key(s, 0, std::string(act) + ".bias")).to_vector<float>() == std::vector<float>{0.f});
      CHECK_FALSE(scale.is_same(find(params, key(s, 1, std::string(act) + ".scale"))));
    }
    const Tensor res = find(params, key(s, 0, "res_scale1.scale"));
    CHECK(res.defined() == (s >= 2));
    if (res.defined()) CHECK(res.to_vector<float>() == constant(res, 1.f));
  }
  const Tensor head_norm_bias = find(params, "head.norm.bias");
  CHECK(head_norm_bias.to_vector<float>() == constant(head_norm_bias, 0.f));
}

TEST_CASE("convformer: full-size models give the paper's stage shapes on a 10 s clip", "[model][convformer]") {
  const Tensor x = test::random_input({1, 128, 1001, 1}, 3);  // (N, H, W, 1)
  for (const char* name : {"convformer_audio_s18", "convformer_dcls_audio_s18"}) {
    INFO(name);
    auto model = test::full_model(name);
    model->eval();
    autograd::NoGradGuard no_grad;
    Generator gen(0);
    std::vector<models::StageShape> shapes;
    Tensor y = model->forward(x, gen, &shapes);
    // Stage 2 is 16x16 and stage 3 8x8 (3x3 s2 p1 downsampling rounds up), unlike ConvNeXt's 16x15 / 8x7.
    const std::vector<std::pair<std::string, Shape>> want = {
        {"stem", {1, 64, 62, 64}},     {"stage 0", {1, 64, 62, 64}}, {"stage 1", {1, 32, 31, 128}},
        {"stage 2", {1, 16, 16, 320}}, {"stage 3", {1, 8, 8, 512}},  {"head", {1, 527}}};
    REQUIRE(shapes.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(shapes[i].name == want[i].first);
      CHECK(shapes[i].shape == want[i].second);
    }
    REQUIRE(y.shape() == Shape{1, 527});
    bool finite = true;
    for (float v : y.to_vector<float>()) finite = finite && std::isfinite(v);
    CHECK(finite);
  }
}

TEST_CASE("convformer small: backward reaches every parameter, shared P/SIG collect gradients",
          "[model][convformer]") {
  for (const char* name : {"convformer_audio_s18", "convformer_dcls_audio_s18"}) {
    INFO(name);
    auto model = models::create_model(small_config(name));  // no drop path: a dropped sample has no gradient
    const Tensor x = test::random_input({2, 32, 160, 1}, 5);  // (N, H, W, 1)
    const Tensor t = Tensor::full({2, 5}, 0.5);               // (N, K)
    Generator gen(7);
    std::vector<models::StageShape> shapes;
    Tensor loss = ops::bce_with_logits(model->forward(x, gen, &shapes), t);
    CHECK(shapes[0].shape == Shape{2, 16, 10, 8});
    CHECK(shapes[4].shape == Shape{2, 2, 2, 32});
    autograd::backward(loss);
    test::check_finite_gradients(*model);
    if (small_config(name).variant == models::Variant::dcls) {
      const NamedTensors sd = model->state_dict();
      const Tensor P0 = find(sd, key(2, 0, "token_mixer.dwconv.P")), P1 = find(sd, key(2, 1, "token_mixer.dwconv.P"));
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
  autograd::NoGradGuard no_grad;

  model->eval();
  Generator g1(1), g2(2);
  const std::vector<float> e1 = model->forward(x, g1).to_vector<float>();
  CHECK(model->forward(x, g2).to_vector<float>() == e1);
  CHECK(g1.offset == 0);

  model->train();
  Generator t1(1), t1_again(1), t2(2);
  const std::vector<float> a = model->forward(x, t1).to_vector<float>();
  CHECK(t1.offset == 8);  // token mixer and mlp draw apart: 2 x 4 blocks with a non-zero rate
  CHECK(model->forward(x, t1_again).to_vector<float>() == a);
  CHECK(model->forward(x, t2).to_vector<float>() != a);
  CHECK(a != e1);
}
