// ConvNeXt-T audio taggers (models/convnext.*; shared/spec/models.md §1, §5.1, §6): PyTorch state-dict
// names/shapes/order, exact parameter counts, per-stage shapes of the full model on a 10 s clip, DCLS P/SIG
// stage sharing, gradients and drop path on a small-width variant.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "models/audio_model.h"
#include "models/model_info.h"
#include "model_checks.h"

using namespace engine;
using models::ModelConfig;
using test::find_tensor;

namespace {

ModelConfig small_config(const std::string& name) { return test::small_config(name, {8, 16, 24, 32}, 11); }

std::string key(int stage, int block, const std::string& leaf) {
  return "stages." + std::to_string(stage) + "." + std::to_string(block) + ".dwconv." + leaf;
}

}  // namespace

TEST_CASE("convnext: state dicts match PyTorch key for key and parameter counts are exact", "[model][convnext]") {
  test::check_full_model_listing("convnext_audio_tiny", 182, 28223855);
  test::check_full_model_listing("convnext_dcls_audio_tiny", 218, 28221263);
}

TEST_CASE("convnext dcls: one P/SIG pair per stage, aliased under every block", "[model][convnext]") {
  auto model = test::full_model("convnext_dcls_audio_tiny");
  const std::vector<int> depths = {3, 3, 9, 3};
  test::check_dcls_stage_sharing(*model, depths, [](int s, int b) { return key(s, b, ""); });
  // Dcls2d's reset (the paper's init): weight N(0, .02) drawn per block, bias 0.
  const NamedTensors sd = model->state_dict();
  for (int s = 0; s < 4; ++s) {
    INFO("stage " << s);
    for (int b = 1; b < depths[size_t(s)]; ++b)
      CHECK_FALSE(find_tensor(sd, key(s, b, "weight")).is_same(find_tensor(sd, key(s, 0, "weight"))));
    const Tensor bias = find_tensor(sd, key(s, 0, "bias"));
    CHECK(bias.to_vector<float>() == std::vector<float>(size_t(bias.numel()), 0.f));
  }
}

TEST_CASE("convnext: full-size models give the paper's stage shapes on a 10 s clip", "[model][convnext]") {
  for (const char* name : {"convnext_audio_tiny", "convnext_dcls_audio_tiny"}) {
    INFO(name);
    test::check_full_model_shapes(*test::full_model(name), {{"stem", {1, 64, 62, 96}},
                                                            {"stage 0", {1, 64, 62, 96}},
                                                            {"stage 1", {1, 32, 31, 192}},
                                                            {"stage 2", {1, 16, 15, 384}},
                                                            {"stage 3", {1, 8, 7, 768}},
                                                            {"head", {1, 527}}});
  }
}

TEST_CASE("convnext small: backward reaches every parameter, shared P/SIG collect gradients", "[model][convnext]") {
  for (const char* name : {"convnext_audio_tiny", "convnext_dcls_audio_tiny"}) {
    INFO(name);
    ModelConfig c = small_config(name);  // no drop path
    auto model = models::create_model(c);
    const std::vector<models::StageShape> shapes = test::check_backward(*model, {2, 32, 160, 1});
    CHECK(shapes[0].shape == Shape{2, 16, 10, 8});
    CHECK(shapes[4].shape == Shape{2, 2, 1, 32});
    if (c.variant == models::Variant::dcls) {
      // Stage 2 has two blocks on one P: its gradient is the sum of both layers' contributions.
      const NamedTensors sd = model->state_dict();
      CHECK(find_tensor(sd, key(2, 1, "P")).is_same(find_tensor(sd, key(2, 0, "P"))));
      CHECK(find_tensor(sd, key(2, 1, "P")).grad().is_same(find_tensor(sd, key(2, 0, "P")).grad()));
    }
  }
}

TEST_CASE("convnext small: drop path is inactive in eval and draws from gen in training", "[model][convnext]") {
  ModelConfig c = small_config("convnext_dcls_audio_tiny");
  c.drop_path_rate = 0.5;
  c.layer_scale_init = 0.5;  // residual branches large enough that a dropped sample shows in every logit
  auto model = models::create_model(c);
  const Tensor x = test::random_input({4, 32, 160, 1}, 9);  // (N, H, W, 1)
  test::check_drop_path(*model, x, 4);  // one draw per block with a non-zero rate: 5 blocks, the first at rate 0
}

TEST_CASE("convnext norm = batch: a BatchNorm under every LayerNorm's name, batch statistics only in training",
          "[model][convnext]") {
  ModelConfig layer_config = small_config("convnext_dcls_audio_tiny");
  ModelConfig batch_config = layer_config;
  batch_config.norm = models::Norm::batch;
  auto layer_model = models::create_model(layer_config);
  auto batch_model = models::create_model(batch_config);
  CHECK(batch_model->num_parameters() == layer_model->num_parameters());  // the same affine weight and bias

  // The LayerNorms are the 1-D ".weight" tensors; each becomes a BatchNorm with its three buffers.
  std::vector<std::string> want;
  for (const auto& [name, t] : layer_model->state_dict()) {
    want.push_back(name);
    const std::string suffix = ".weight";
    if (t.dim() == 1 && name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      continue;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      const std::string prefix = name.substr(0, name.size() - 5);
      if (find_tensor(layer_model->state_dict(), prefix + ".weight").dim() == 1)
        for (const char* b : {".running_mean", ".running_var", ".num_batches_tracked"}) want.push_back(prefix + b);
    }
  }
  std::vector<std::string> got;
  for (const auto& [name, t] : batch_model->state_dict()) got.push_back(name);
  CHECK(got == want);
  CHECK(std::count_if(got.begin(), got.end(), [](const std::string& n) {
          return n.find("running_mean") != std::string::npos;
        }) == 1 + 3 + 5 + 1);  // stem, three downsamplings, five blocks, head

  test::check_backward(*batch_model, {2, 32, 160, 1});
  const Tensor counter = find_tensor(batch_model->state_dict(), "norm.num_batches_tracked");
  CHECK(counter.to_vector<int64_t>() == std::vector<int64_t>{1});

  // Eval: running statistics, so a clip's logits do not depend on the rest of the batch; training: they do.
  const Tensor x = test::random_input({3, 32, 160, 1}, 4);  // (N, H, W, 1)
  const Tensor first = test::random_input({1, 32, 160, 1}, 4);  // the same first clip alone
  autograd::NoGradGuard no_grad;
  Generator gen(0);
  batch_model->eval();
  const std::vector<float> batched = batch_model->forward(x, gen).to_vector<float>();  // (3, K)
  const std::vector<float> alone = batch_model->forward(first, gen).to_vector<float>();  // (1, K)
  for (size_t k = 0; k < alone.size(); ++k) CHECK(batched[k] == Approx(alone[k]).epsilon(1e-5));
  batch_model->train();
  const std::vector<float> trained = batch_model->forward(x, gen).to_vector<float>();
  CHECK(std::vector<float>(trained.begin(), trained.begin() + long(alone.size())) != alone);
}

TEST_CASE("convnext norm: the checkpoint metadata names it; files without it hold the paper's LayerNorm",
          "[model][convnext]") {
  ModelConfig c = small_config("convnext_audio_tiny");
  c.norm = models::Norm::batch;
  std::map<std::string, std::string> meta = models::model_metadata(c);
  CHECK(meta.at("norm") == "batch");
  CHECK(models::model_config_from_metadata(meta, "w.safetensors", "").norm == models::Norm::batch);
  meta.erase("norm");
  CHECK(models::model_config_from_metadata(meta, "w.safetensors", "").norm == models::Norm::layer);
  meta["norm"] = "group";
  CHECK_THROWS_WITH(models::model_config_from_metadata(meta, "w.safetensors", ""),
                    Catch::Contains("w.safetensors: metadata norm = 'group', expected layer or batch"));
}
