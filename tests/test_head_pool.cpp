// ModelConfig::head_pool (models/audio_model.h): the head's time max + mean pooling in all three
// architectures. It adds no tensor, reaches every parameter in the backward, changes the logits, and is
// recorded in the checkpoint metadata (files without the key hold the paper's mean).
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "models/audio_model.h"
#include "models/model_info.h"
#include "model_checks.h"

using namespace engine;
using models::HeadPool;
using models::ModelConfig;

TEST_CASE("head_pool = time_max_mean: the same tensors, every parameter trained, other logits", "[model]") {
  for (const std::string name : {"convnext_dcls_audio_tiny", "convformer_audio_s18", "fastvit_dcls_audio_sa24"}) {
    INFO(name);
    const ModelConfig mean_config = test::small_config(name, {8, 16, 32, 64}, 5);
    ModelConfig max_config = mean_config;
    max_config.head_pool = HeadPool::time_max_mean;
    auto mean_model = models::create_model(mean_config);
    auto max_model = models::create_model(max_config);

    std::vector<std::string> mean_names, max_names;
    for (const auto& [n, t] : mean_model->state_dict()) mean_names.push_back(n);
    for (const auto& [n, t] : max_model->state_dict()) max_names.push_back(n);
    CHECK(max_names == mean_names);

    test::check_backward(*max_model, {2, 64, 256, 1});

    // The same initial weights; only the pooling differs, so the logits must.
    const Tensor x = test::random_input({2, 64, 256, 1}, 3);  // (N, H, W, 1)
    auto fresh_mean = models::create_model(mean_config);
    auto fresh_max = models::create_model(max_config);
    autograd::NoGradGuard no_grad;
    Generator gen(0);
    fresh_mean->eval();
    fresh_max->eval();
    CHECK(fresh_max->forward(x, gen).to_vector<float>() != fresh_mean->forward(x, gen).to_vector<float>());
  }
}

TEST_CASE("head_pool: the checkpoint metadata names it; files without it hold the paper's mean", "[model]") {
  ModelConfig c = test::small_config("convnext_audio_tiny", {8, 16, 24, 32}, 1);
  CHECK(models::model_metadata(c).at("head_pool") == "mean");
  c.head_pool = HeadPool::time_max_mean;
  std::map<std::string, std::string> meta = models::model_metadata(c);
  CHECK(meta.at("head_pool") == "time_max_mean");
  CHECK(models::model_config_from_metadata(meta, "w.safetensors", "").head_pool == HeadPool::time_max_mean);
  meta.erase("head_pool");
  CHECK(models::model_config_from_metadata(meta, "w.safetensors", "").head_pool == HeadPool::mean);
  meta["head_pool"] = "max";
  CHECK_THROWS_WITH(models::model_config_from_metadata(meta, "w.safetensors", ""),
                    Catch::Contains("w.safetensors: metadata head_pool = 'max', expected mean or time_max_mean"));
}
