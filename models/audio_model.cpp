#include "models/audio_model.h"

#include <map>

#include "engine/check.h"
#include "ops/pool.h"

namespace engine::models {

namespace {

std::map<std::string, ArchBuilder>& arch_registry() {
  static std::map<std::string, ArchBuilder> registry;
  return registry;
}

struct Entry {
  const char* name;
  const char* arch;
  Variant variant;
  std::vector<int> depths, dims;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> all = {
      {"convnext_audio_tiny", "convnext", Variant::dsc, {3, 3, 9, 3}, {96, 192, 384, 768}},
      {"convnext_dcls_audio_tiny", "convnext", Variant::dcls, {3, 3, 9, 3}, {96, 192, 384, 768}},
      {"convformer_audio_s18", "convformer", Variant::dsc, {3, 3, 9, 3}, {64, 128, 320, 512}},
      {"convformer_dcls_audio_s18", "convformer", Variant::dcls, {3, 3, 9, 3}, {64, 128, 320, 512}},
      {"fastvit_audio_sa24", "fastvit", Variant::dsc, {4, 4, 12, 4}, {64, 128, 256, 512}},
      {"fastvit_dcls_audio_sa24", "fastvit", Variant::dcls, {4, 4, 12, 4}, {64, 128, 256, 512}},
  };
  return all;
}

}  // namespace

ArchRegistrar::ArchRegistrar(const char* arch, ArchBuilder build) { arch_registry()[arch] = build; }

std::string model_name(const ModelConfig& config) {
  for (const Entry& e : entries())
    if (config.arch == e.arch && config.variant == e.variant) return e.name;
  ENGINE_CHECK(false, "no model name for arch ", config.arch);
  return {};
}

std::string AudioTagger::name() const { return model_name(config_); }

Tensor AudioTagger::pool(const Tensor& x) const {
  return config_.head_pool == HeadPool::time_max_mean ? ops::time_max_mean_pool(x) : ops::global_avg_pool(x);
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Entry& e : entries()) n.push_back(e.name);
    return n;
  }();
  return names;
}

ModelConfig default_config(const std::string& name) {
  for (const Entry& e : entries()) {
    if (name != e.name) continue;
    ModelConfig c;
    c.arch = e.arch;
    c.variant = e.variant;
    c.depths = e.depths;
    c.dims = e.dims;
    return c;
  }
  std::string valid;
  for (const Entry& e : entries()) valid += std::string(valid.empty() ? "" : ", ") + e.name;
  user_error("unknown model '", name, "'; expected one of: ", valid);
  return {};
}

std::shared_ptr<AudioTagger> create_model(const ModelConfig& config) {
  auto it = arch_registry().find(config.arch);
  ENGINE_CHECK(it != arch_registry().end(), "architecture '", config.arch, "' is not registered");
  USER_CHECK(config.depths.size() == 4 && config.dims.size() == 4, "model ", config.arch,
             ": expected 4 stage depths and 4 stage widths");
  for (size_t s = 0; s < 4; ++s)
    USER_CHECK(config.depths[s] >= 1 && config.dims[s] >= 1, "model ", config.arch, ": stage ", s,
               " needs at least one block and one channel");
  return it->second(config);
}

}  // namespace engine::models
