#include "train/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>

#include "data/spectrogram_h5.h"
#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/check.h"
#include "engine/safetensors.h"
#include "models/model_info.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace engine::train {

namespace fs = std::filesystem;

namespace {

// Settings a resumed run may change: those that do not change what it computes, and train.batch, which must
// change with the number of ranks to keep the total batch (the loader checks the total against the checkpoint).
bool may_change_on_resume(const std::string& key) {
  return key == "data.workers" || key == "train.log_every" || key == "train.dist_timeout" ||
         key == "train.check_every" || key == "train.batch";
}

}  // namespace

int train_app(const std::string& arch, int argc, char** argv) {
  const std::string app_name = "engine_train_" + arch;
  CLI::App app{app_name + ": trains the paper's " + arch +
               " audio tagger (shared/spec/recipe.md) on spectrogram HDF5 files from engine_prep.\n"
               "Defaults are the paper's run; --config FILE (configs/*.toml) sets keys, and every key can be set\n"
               "on the command line as --<section>.<key> VALUE. Writes train.out: config.toml, log.jsonl,\n"
               "checkpoint-<step>/ (safetensors with PyTorch names), checkpoint-best. SIGINT/SIGTERM finish the step,\n"
               "checkpoint and exit 130 with the command that continues the run; --resume continues exactly, also\n"
               "after a kill or a full disk (from the newest complete checkpoint)."};
  std::string config_file, variant, resume;
  bool summary = false;
  int64_t stop_after = 0;
  app.add_option("--config", config_file, "TOML configuration (configs/*.toml)")->check(CLI::ExistingFile);
  app.add_option("--variant", variant, "dsc (depthwise 7x7) or dcls (DCLS-Gauss); same as --model.variant")
      ->check(CLI::IsMember({"dsc", "dcls"}));
  app.add_flag("--summary", summary, "print the model's per-stage shapes and parameter count, then exit");
  app.add_option("--resume", resume, "continue the run in this directory from its newest checkpoint")
      ->check(CLI::ExistingDirectory);
  app.add_option("--stop-after", stop_after, "stop after this many optimizer steps, with a checkpoint (resume later)")
      ->check(CLI::PositiveNumber);
  std::vector<ConfigKey> keys = config_keys();
  std::map<std::string, std::string> given;
  for (const ConfigKey& k : keys) {
    app.add_option_function<std::string>(
        "--" + k.name, [&given, name = k.name](const std::string& v) { given[name] = v; }, k.help)
        ->type_name(k.type)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI11_PARSE(app, argc, argv);

  // The configuration: the paper's run, then --config, then --variant and the per-key flags. A resumed run
  // starts from its saved config.toml instead, and any --config or flag must leave it unchanged.
  auto apply_flags = [&](TrainConfig& c, bool only_resumable) {
    if (!variant.empty()) c.model.variant = variant;
    for (const ConfigKey& k : keys) {
      auto it = given.find(k.name);
      if (it != given.end() && (!only_resumable || may_change_on_resume(k.name))) k.set(c, it->second);
    }
  };
  TrainConfig cfg = paper_config(arch, variant.empty() ? "dcls" : variant);
  if (!config_file.empty()) {
    cfg = load_config(config_file, cfg);
    USER_CHECK(cfg.model.arch == arch, config_file, ": model.arch is ", cfg.model.arch, "; use engine_train_",
               cfg.model.arch, " for it");
  }
  if (!resume.empty()) {
    const std::string saved_path = (fs::path(resume) / "config.toml").string();
    USER_CHECK(fs::is_regular_file(saved_path), "--resume ", resume, ": no config.toml (not a run directory)");
    TrainConfig saved = load_config(saved_path, paper_config(arch, "dcls"));
    USER_CHECK(saved.model.arch == arch, "--resume ", resume, ": the run is a ", saved.model.arch,
               " run; use engine_train_", saved.model.arch);
    saved.train.out = resume;
    TrainConfig asked = config_file.empty() ? saved : cfg;
    asked.train.out = resume;
    apply_flags(asked, false);
    apply_flags(saved, true);
    const std::string diff = first_difference(asked, saved);
    USER_CHECK(diff.empty(), "--resume ", resume, ": ", diff, " differs from the run's ", saved_path,
               " (a resumed run keeps its configuration; start a new run to change it)");
    cfg = saved;
  } else {
    apply_flags(cfg, false);
  }
  USER_CHECK(cfg.model.arch == arch, "--model.arch ", cfg.model.arch, ": this is engine_train_", arch);
  validate(cfg);
  if (summary) {
    auto model = models::create_model(model_config_of(cfg));
    models::print_summary(*model);
    return 0;
  }
  install_stop_handlers();
  const TrainOutcome out = run_training(cfg, !resume.empty(), stop_after);
  if (!out.finished) return 130;
  std::printf("trained %lld steps in %.0f s (%.1f samples/s)\n", (long long)out.steps, out.train_seconds,
              out.samples_per_second);
  if (out.evaluated)
    std::printf("held-out mAP: %.4f (%d classes)\n", out.final_eval.metrics.map, out.final_eval.metrics.present);
  return 0;
}

int eval_app(int argc, char** argv) {
  CLI::App app{"engine_eval: held-out mAP, mAUC and d' of a checkpoint on a spectrogram HDF5 (engine_prep).\n"
               "The checkpoint is a weights file (.safetensors: ours, or a PyTorch one converted with\n"
               "tools/convert_pth_checkpoint.py, then give --model), a checkpoint directory, or a run directory\n"
               "(its checkpoint-best)."};
  std::string checkpoint, data, model_name, device = "auto", per_class, json_out;
  int batch = 64, workers = 2;
  bool ema = false;
  app.add_option("--checkpoint", checkpoint, "weights file, checkpoint directory or run directory")->required();
  app.add_option("data", data, "spectrogram HDF5 to evaluate on")->required()->check(CLI::ExistingFile);
  app.add_option("--model", model_name, "model name, for weights files that do not record it (engine_models --list)");
  app.add_flag("--ema", ema, "evaluate the EMA weights of a checkpoint directory (model_ema.safetensors)");
  app.add_option("--batch", batch, "clips per forward pass")->check(CLI::PositiveNumber);
  app.add_option("--workers", workers, "loader threads")->check(CLI::NonNegativeNumber);
  app.add_option("--device", device, "cpu, cuda or auto")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--per-class", per_class, "write per-class AP/AUC with class names and positive counts (CSV)");
  app.add_option("--json", json_out, "write the metrics as JSON");
  CLI11_PARSE(app, argc, argv);

  const CheckpointModel ck = load_checkpoint_model(checkpoint, model_name, ema);
  const auto& model = ck.model;
  const fs::path weights(ck.weights);
  data::SpectrogramReader(data).require_front_end(ck.input.fe);  // the front end the model was trained on
  USER_CHECK(device != "cuda" || cuda_available(), "--device cuda: no CUDA device (or the engine was built without CUDA)");
  const Device dev = device == "cpu" || !cuda_available() ? Device::CPU : Device::CUDA;
  model->to(dev);
  std::printf("%s (%lld parameters) from %s on %s\n", model->name().c_str(), (long long)model->num_parameters(),
              weights.string().c_str(), data.c_str());
  const Evaluation e = evaluate(*model, data, batch, dev, workers);
  std::printf("%s [%.1f s]\n", evaluation_summary(e).c_str(), e.seconds);
  if (!per_class.empty()) {
    std::vector<std::string> mids, names;
    class_table(model->config().num_classes, mids, names);
    write_per_class_csv(per_class, e.metrics, mids, names);
  }
  if (!json_out.empty()) {
    nlohmann::json j = evaluation_json(e);
    j["checkpoint"] = weights.string();
    j["data"] = data;
    write_file_atomic(json_out, j.dump(1) + "\n");
  }
  std::printf("held-out mAP: %.4f (%d classes)\n", e.metrics.map, e.metrics.present);
  return 0;
}

}  // namespace engine::train
