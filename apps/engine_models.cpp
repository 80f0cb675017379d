// engine_models: the paper's six taggers without training. Lists them, prints a model's summary (name,
// variant, per-stage activation shapes from one forward pass, unique trainable parameter count as
// PyTorch's sum(p.numel() for p in model.parameters())), and writes freshly initialised weights as a
// PyTorch-compatible safetensors checkpoint. The trainers (engine_train_<model>) print the same summary
// with --summary (models/model_info.h).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include "engine/app_main.h"
#include "engine/safetensors.h"
#include "models/audio_model.h"
#include "models/model_info.h"

using namespace engine;

namespace {

std::vector<int> parse_ints(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    USER_CHECK(used == item.size() && !item.empty() && v > 0, flag, ": expected 4 positive integers like 3,3,9,3, got '",
               text, "'");
    out.push_back(v);
  }
  USER_CHECK(out.size() == 4, flag, ": expected 4 comma-separated values (one per stage), got '", text, "'");
  return out;
}

int run(int argc, char** argv) {
  CLI::App app{"engine_models: list the paper's six audio taggers, print a model summary, or write initial weights"};
  bool list = false, summary = false;
  std::string name, dims, depths, save_path;
  uint64_t seed = 0;
  int mel_bins = 128, frames = 1001;
  app.add_flag("--list", list, "list the model names");
  app.add_option("--model", name, "model name, e.g. convnext_dcls_audio_tiny (see --list)");
  app.add_flag("--summary", summary, "print name, variant, per-stage shapes and the parameter count");
  app.add_option("--dims", dims, "channels per stage, e.g. 96,192,384,768 (default: the paper's)");
  app.add_option("--depths", depths, "blocks per stage, e.g. 3,3,9,3 (default: the paper's)");
  app.add_option("--seed", seed, "initialisation seed");
  app.add_option("--mel-bins", mel_bins, "input height for the shape summary")->check(CLI::PositiveNumber);
  app.add_option("--frames", frames, "input width (frames) for the shape summary")->check(CLI::PositiveNumber);
  app.add_option("--save", save_path, "write the initialised weights to this .safetensors file");
  CLI11_PARSE(app, argc, argv);

  if (list) {
    for (const auto& n : models::model_names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  USER_CHECK(!name.empty(), "--model is required (one of the names printed by --list)");
  USER_CHECK(summary || !save_path.empty(), "nothing to do: give --summary and/or --save FILE");
  models::ModelConfig cfg = models::default_config(name);
  if (!dims.empty()) cfg.dims = parse_ints("--dims", dims);
  if (!depths.empty()) cfg.depths = parse_ints("--depths", depths);
  cfg.seed = seed;
  auto model = models::create_model(cfg);
  if (summary) models::print_summary(*model, mel_bins, frames);
  if (!save_path.empty()) {
    std::map<std::string, std::string> meta = models::model_metadata(cfg);
    meta["seed"] = std::to_string(seed);
    save_module(*model, save_path, meta);
    std::printf("wrote %s\n", save_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return engine::run_app("engine_models", run, argc, argv); }
