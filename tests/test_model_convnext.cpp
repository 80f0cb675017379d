// ConvNeXt-T audio taggers (models/convnext.*; shared/spec/models.md §1, §5.1, §6): PyTorch state-dict
// names/shapes/order, exact parameter counts, per-stage shapes of the full model on a 10 s clip, DCLS P/SIG
// stage sharing, gradients and drop path on a small-width variant.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "models/audio_model.h"
#include "models/dcls2d.h"
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
  c.seed = 11;
  return c;
}

std::string key(int stage, int block, const std::string& leaf) {
  return "stages." + std::to_string(stage) + "." + std::to_string(block) + ".dwconv." + leaf;
}

Tensor find(const NamedTensors& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return t;
  return Tensor();
}

}  // namespace

TEST_CASE("convnext: state dicts match PyTorch key for key and parameter counts are exact", "[model][convnext]") {
  auto dsc = test::full_model("convnext_audio_tiny");
  CHECK(dsc->name() == "convnext_audio_tiny");
  test::check_state_dict_listing(*dsc, "convnext_audio_tiny", 182);
  CHECK(dsc->num_parameters() == 28223855);

  auto dcls = test::full_model("convnext_dcls_audio_tiny");
  CHECK(dcls->name() == "convnext_dcls_audio_tiny");
  test::check_state_dict_listing(*dcls, "convnext_dcls_audio_tiny", 218);
  CHECK(dcls->num_parameters() == 28221263);
}

TEST_CASE("convnext dcls: one P/SIG pair per stage, aliased under every block", "[model][convnext]") {
  auto model = test::full_model("convnext_dcls_audio_tiny");
  const NamedTensors sd = model->state_dict();
  const NamedTensors params = model->named_parameters();
  const int depths[4] = {3, 3, 9, 3};
  Tensor previous_P;
  for (int s = 0; s < 4; ++s) {
    INFO("stage " << s);
    Tensor P = find(sd, key(s, 0, "P")), SIG = find(sd, key(s, 0, "SIG"));
    REQUIRE(P.defined());
    CHECK(find(params, key(s, 0, "P")).is_same(P));  // named_parameters lists the pair under block 0
    for (int b = 1; b < depths[s]; ++b) {
      CHECK(find(sd, key(s, b, "P")).is_same(P));
      CHECK(find(sd, key(s, b, "SIG")).is_same(SIG));
      CHECK_FALSE(find(params, key(s, b, "P")).defined());
      CHECK_FALSE(find(sd, key(s, b, "weight")).is_same(find(sd, key(s, 0, "weight"))));
    }
    if (previous_P.defined()) CHECK_FALSE(P.is_same(previous_P));
    previous_P = P;
    // Dcls2d's reset: P ~ N(0, 0.5) clamped to +-11, SIG = 0.23; weight N(0, .02), bias 0 (the paper's init).
    float max_abs_P = 0.f;
    for (float v : P.to_vector<float>()) max_abs_P = std::max(max_abs_P, std::abs(v));
    CHECK(max_abs_P <= 11.f);
    CHECK(max_abs_P > 1.f);  // drawn, not constant
    CHECK(SIG.to_vector<float>() == std::vector<float>(size_t(SIG.numel()), 0.23f));
    Tensor bias = find(sd, key(s, 0, "bias"));
    CHECK(bias.to_vector<float>() == std::vector<float>(size_t(bias.numel()), 0.f));
  }
}

TEST_CASE("convnext: full-size models give the paper's stage shapes on a 10 s clip", "[model][convnext]") {
  const Tensor x = test::random_input({1, 128, 1001, 1}, 3);  // (N, H, W, 1)
  for (const char* name : {"convnext_audio_tiny", "convnext_dcls_audio_tiny"}) {
    INFO(name);
    auto model = test::full_model(name);
    model->eval();
    autograd::NoGradGuard no_grad;
    Generator gen(0);
    std::vector<models::StageShape> shapes;
    Tensor y = model->forward(x, gen, &shapes);
    const std::vector<std::pair<std::string, Shape>> want = {
        {"stem", {1, 64, 62, 96}},      {"stage 0", {1, 64, 62, 96}}, {"stage 1", {1, 32, 31, 192}},
        {"stage 2", {1, 16, 15, 384}},  {"stage 3", {1, 8, 7, 768}},  {"head", {1, 527}}};
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

TEST_CASE("convnext small: backward reaches every parameter, shared P/SIG collect gradients", "[model][convnext]") {
  for (const char* name : {"convnext_audio_tiny", "convnext_dcls_audio_tiny"}) {
    INFO(name);
    ModelConfig c = small_config(name);  // no drop path: a dropped sample would leave its block without gradient
    auto model = models::create_model(c);
    const Tensor x = test::random_input({2, 32, 160, 1}, 5);  // (N, H, W, 1)
    const Tensor t = Tensor::full({2, 5}, 0.5);               // (N, K)
    Generator gen(7);
    std::vector<models::StageShape> shapes;
    Tensor loss = ops::bce_with_logits(model->forward(x, gen, &shapes), t);
    CHECK(shapes[0].shape == Shape{2, 16, 10, 8});
    CHECK(shapes[4].shape == Shape{2, 2, 1, 32});
    autograd::backward(loss);
    test::check_finite_gradients(*model);
    if (c.variant == models::Variant::dcls) {
      // Stage 2 has two blocks on one P: its gradient is the sum of both layers' contributions.
      const NamedTensors sd = model->state_dict();
      CHECK(find(sd, key(2, 1, "P")).is_same(find(sd, key(2, 0, "P"))));
      CHECK(find(sd, key(2, 1, "P")).grad().is_same(find(sd, key(2, 0, "P")).grad()));
    }
  }
}

TEST_CASE("convnext small: drop path is inactive in eval and draws from gen in training", "[model][convnext]") {
  ModelConfig c = small_config("convnext_dcls_audio_tiny");
  c.drop_path_rate = 0.5;
  c.layer_scale_init = 0.5;  // residual branches large enough that a dropped sample shows in every logit
  auto model = models::create_model(c);
  const Tensor x = test::random_input({4, 32, 160, 1}, 9);  // (N, H, W, 1)
  autograd::NoGradGuard no_grad;

  model->eval();
  Generator g1(1), g2(2);
  const std::vector<float> e1 = model->forward(x, g1).to_vector<float>();
  const std::vector<float> e2 = model->forward(x, g2).to_vector<float>();
  CHECK(e1 == e2);
  CHECK(g1.offset == 0);

  model->train();
  Generator t1(1), t1_again(1), t2(2);
  const std::vector<float> a = model->forward(x, t1).to_vector<float>();
  CHECK(t1.offset == 4);  // one draw per block with a non-zero rate: 5 blocks, the first at rate 0
  CHECK(model->forward(x, t1_again).to_vector<float>() == a);
  CHECK(model->forward(x, t2).to_vector<float>() != a);
  CHECK(a != e1);
}
