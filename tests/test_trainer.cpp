// The trainer end to end on a small synthetic task (N 24 training and 12 held-out clips of M 32 mel bins x
// T 129 frames, K 5 classes; class k is on when band group k is loud): exact resume with augmentation and
// mixup on, checkpoints that survive an interrupted write, the run directory's files, and the user errors
// of the command line (unknown key, wrong type, resume with another configuration, another model's weights),
// and bad clips (data.bad_clips) left out and counted per epoch, or stopping the run.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "models/model_info.h"
#include "tests/harness/synthetic_task.h"
#include "tests/harness/temp_dir.h"
#include "train/checkpoint.h"
#include "train/cli.h"
#include "train/config.h"
#include "train/trainer.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

constexpr int K = test::kTaskClasses;


struct Task {
  test::TempDir dir{"trainer"};
  std::string train = dir.file("train.h5"), eval = dir.file("eval.h5");
  Task() {
    test::write_synthetic_task(train, 24, 1);
    test::write_synthetic_task(eval, 12, 2);
  }
};

const Task& task() {
  static Task t;
  return t;
}

train::TrainConfig small_config(const std::string& out) {
  train::TrainConfig c = test::synthetic_task_config(task().train, task().eval, out);
  c.optim.lr_batch = 4;
  c.train.batch = 4;
  c.train.update_freq = 2;  // 3 optimizer steps per epoch
  c.train.keep_last = 1;
  return c;
}

std::string bytes(const fs::path& p) { return test::read_bytes(p.string()); }

// Runs an app entry point (train_app / eval_app) on the given arguments.
int run_cli(const std::function<int(int, char**)>& app, std::vector<std::string> args) {
  args.insert(args.begin(), "test");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return app(int(argv.size()), argv.data());
}

int train_cli(std::vector<std::string> args) {
  return run_cli([](int argc, char** argv) { return train::train_app("convnext", argc, argv); }, std::move(args));
}

// A finished run of small_config, made once.
const std::string& finished_run() {
  static test::TempDir dir("trainer_run");
  static const std::string run = [] {
    const std::string out = dir.file("run");
    const train::TrainOutcome o = train::run_training(small_config(out), false);
    REQUIRE(o.finished);
    REQUIRE(o.steps == 6);
    return out;
  }();
  return run;
}

}  // namespace

TEST_CASE("trainer: an interrupted and resumed run equals an uninterrupted one bit for bit", "[trainer]") {
  const fs::path a = finished_run();
  test::TempDir dir("trainer_resume");
  const std::string b = dir.file("run");
  train::TrainOutcome first = train::run_training(small_config(b), false, /*stop_after=*/2);
  REQUIRE_FALSE(first.finished);
  REQUIRE(fs::path(train::latest_checkpoint(b)).filename() == "checkpoint-000000002");  // mid-epoch
  train::TrainOutcome second = train::run_training(small_config(b), true, /*stop_after=*/2);
  REQUIRE_FALSE(second.finished);
  REQUIRE(fs::path(train::latest_checkpoint(b)).filename() == "checkpoint-000000004");
  REQUIRE(train::run_training(small_config(b), true).finished);

  for (const char* file : {"model.safetensors", "model_ema.safetensors", "optimizer.safetensors"}) {
    INFO(file);
    REQUIRE(bytes(a / "checkpoint-000000006" / file) == bytes(fs::path(b) / "checkpoint-000000006" / file));
  }
  // The log holds every step once, as the uninterrupted run's.
  std::ifstream log(fs::path(b) / "log.jsonl");
  std::vector<int64_t> train_steps;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") train_steps.push_back(j["step"].get<int64_t>());
  }
  REQUIRE(train_steps == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("trainer: the run directory", "[trainer]") {
  const fs::path run = finished_run();
  const train::TrainConfig saved = train::load_config((run / "config.toml").string(), train::paper_config("convnext", "dcls"));
  REQUIRE(train::first_difference(saved, small_config(run.string())).empty());

  REQUIRE(fs::is_symlink(run / "checkpoint-best"));
  REQUIRE(fs::is_regular_file(run / "checkpoint-best" / "state.json"));
  std::ifstream csv(run / "per_class_ap.csv");
  int lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  REQUIRE(lines == K + 1);

  // The last checkpoint's weights give the metrics recorded at its evaluation.
  const fs::path last = train::latest_checkpoint(run.string());
  std::ifstream state_file(last / "state.json");
  const auto state = nlohmann::json::parse(state_file);
  const models::ModelConfig mc = models::model_config_from_file((last / "model.safetensors").string(), "");
  auto model = models::create_model(mc);
  load_module(*model, (last / "model.safetensors").string());
  const train::Evaluation e = train::evaluate(*model, task().eval, 8, Device::CPU, 0);
  REQUIRE(e.metrics.map == state["eval"]["map"].get<double>());
  REQUIRE(e.metrics.present == state["eval"]["classes"].get<int>());
}

TEST_CASE("trainer: a checkpoint cut by a kill is never resumed", "[trainer]") {
  test::TempDir dir("trainer_kill");
  const std::string run = dir.file("run");
  REQUIRE_FALSE(train::run_training(small_config(run), false, /*stop_after=*/2).finished);
  // What a kill during the next write leaves: a hidden partial directory, and (had the rename been torn)
  // a final name without its state file.
  fs::create_directories(fs::path(run) / ".checkpoint-000000004.partial-99");
  test::write_bytes((fs::path(run) / ".checkpoint-000000004.partial-99" / "model.safetensors").string(), "junk");
  fs::create_directories(fs::path(run) / "checkpoint-000000005");
  REQUIRE(fs::path(train::latest_checkpoint(run)).filename() == "checkpoint-000000002");
  REQUIRE(train::run_training(small_config(run), true).finished);
  REQUIRE_FALSE(fs::exists(fs::path(run) / ".checkpoint-000000004.partial-99"));
  REQUIRE(bytes(fs::path(run) / "checkpoint-000000006" / "model.safetensors") ==
          bytes(fs::path(finished_run()) / "checkpoint-000000006" / "model.safetensors"));
}

TEST_CASE("trainer: user errors are one clear message and lose nothing", "[trainer]") {
  const fs::path run = finished_run();
  const std::string before = bytes(run / "checkpoint-000000006" / "model.safetensors");
  test::TempDir dir("trainer_errors");
  auto toml = [&](const std::string& name, const std::string& text) {
    test::write_bytes(dir.file(name), text);
    return dir.file(name);
  };

  REQUIRE_THROWS_WITH(train_cli({"--config", toml("a.toml", "[optim]\nlrr = 1e-3\n")}),
                      Catch::Contains("a.toml: unknown key optim.lrr"));
  REQUIRE_THROWS_WITH(train_cli({"--config", toml("b.toml", "[optim]\nlr = \"fast\"\n")}),
                      Catch::Contains("b.toml: optim.lr: expected a number, got string"));
  REQUIRE_THROWS_WITH(train_cli({"--config", toml("c.toml", "[model]\narch = \"fastvit\"\n")}),
                      Catch::Contains("use engine_train_fastvit"));
  REQUIRE_THROWS_WITH(train_cli({"--train.epochs", "many"}), Catch::Contains("--train.epochs: expected an integer"));
  REQUIRE_THROWS_WITH(train_cli({"--data.bad_clips", "maybe"}), Catch::Contains("data.bad_clips: 'maybe' is not one of skip, stop"));
  REQUIRE_THROWS_WITH(train_cli({"--train.out", run.string(), "--data.train", task().train}),
                      Catch::Contains("already holds a run"));
  REQUIRE_THROWS_WITH(train_cli({"--resume", run.string(), "--optim.lr", "0.5"}),
                      Catch::Contains("optim.lr differs"));
  // Settings that do not change what the run computes may change on resume (a copy: it is resumed).
  const fs::path copy = dir.file("resumed");
  fs::copy(run, copy, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  REQUIRE(train_cli({"--resume", copy.string(), "--data.workers", "0", "--train.log_every", "3",
                     "--train.dist_timeout", "30", "--train.check_every", "2"}) == 0);
  // train.batch may change only with the number of ranks (tests/distributed/mpi_tests.cpp); the refused resume
  // leaves config.toml as it was.
  const std::string config_before = bytes(copy / "config.toml");
  REQUIRE_THROWS_WITH(train_cli({"--resume", copy.string(), "--train.batch", "2"}),
                      Catch::Contains("saved by a run of 1 rank(s) x 4 clips per micro-batch (4 in all), this run has 1 "
                                      "x 2 (2): keep the total: --train.batch 4"));
  CHECK(bytes(copy / "config.toml") == config_before);
  REQUIRE_THROWS_WITH(
      run_cli(train::eval_app, {"--checkpoint", run.string(), "--model", "fastvit_dcls_audio_sa24", task().eval}),
      Catch::Contains("holds convnext_dcls_audio_tiny, not the --model fastvit_dcls_audio_sa24"));

  // Weights of another variant or size do not load into a run.
  train::TrainConfig other = small_config(dir.file("other"));
  other.model.variant = "dsc";
  auto model = models::create_model(train::model_config_of(other));
  ParameterArena arena(*model, Device::CPU, 2);
  REQUIRE_THROWS_WITH(train::read_checkpoint(train::latest_checkpoint(run.string()), *model, arena, -1),
                      Catch::Contains("the checkpoint holds model = convnext_dcls_audio_tiny, this run has convnext_audio_tiny"));
  REQUIRE(bytes(run / "checkpoint-000000006" / "model.safetensors") == before);
}

TEST_CASE("trainer: bad clips are left out and counted in every epoch's summary, or stop the run", "[trainer]") {
  test::TempDir dir("trainer_bad");
  const std::string data = dir.file("bad.h5");
  test::write_synthetic_task(data, 24, 1, /*silent=*/{3}, /*unlabelled=*/10);
  train::TrainConfig c = small_config(dir.file("run"));
  c.data.train = data;
  c.data.eval = "";
  c.train.ema = false;
  REQUIRE(train::run_training(c, false).finished);
  std::ifstream log(dir.file("run/log.jsonl"));
  std::vector<nlohmann::json> epochs;
  for (std::string line; std::getline(log, line);)
    if (nlohmann::json::parse(line)["type"] == "epoch") epochs.push_back(nlohmann::json::parse(line));
  REQUIRE(epochs.size() == 2);
  for (const auto& e : epochs) {
    INFO(e.dump());
    CHECK(e["bad_clips"] == 2);
    CHECK(e["silent"] == 1);
    CHECK(e["unlabelled"] == 1);
    CHECK(e["non_finite"] == 0);
  }

  // A step whose every clip is bad makes no update (its loss is logged as null) and the run goes on.
  const std::vector<int64_t> order = data::shard_indices(24, uint64_t(c.train.seed), 0, true, true, 0, 1);
  const std::string first_step_bad = dir.file("first_step_bad.h5");
  test::write_synthetic_task(first_step_bad, 24, 1, std::vector<int64_t>(order.begin(), order.begin() + 8));  // 2 x 4 clips
  train::TrainConfig d = c;
  d.data.train = first_step_bad;
  d.train.out = dir.file("empty_step");
  REQUIRE(train::run_training(d, false).finished);
  std::ifstream log2(dir.file("empty_step/log.jsonl"));
  std::vector<nlohmann::json> records;
  for (std::string line; std::getline(log2, line);) records.push_back(nlohmann::json::parse(line));
  REQUIRE(records.at(0)["type"] == "train");
  CHECK(records[0]["step"] == 1);
  CHECK(records[0]["loss"].is_null());
  CHECK(records[1]["loss"].is_number());
  CHECK(records.at(3)["type"] == "epoch");
  CHECK(records[3]["silent"] == 8);
  // Resumed across it, it ends the same (the optimizer's own step count, its bias correction, is restored).
  d.train.out = dir.file("empty_step_resumed");
  REQUIRE_FALSE(train::run_training(d, false, /*stop_after=*/2).finished);
  REQUIRE(train::run_training(d, true).finished);
  REQUIRE(bytes(fs::path(d.train.out) / "checkpoint-000000006" / "model.safetensors") ==
          bytes(fs::path(dir.file("empty_step")) / "checkpoint-000000006" / "model.safetensors"));

  // stop: the first of them in the epoch's order ends the run, named.
  const bool silent_first = std::find(order.begin(), order.end(), 3) < std::find(order.begin(), order.end(), 10);
  c.data.bad_clips = "stop";
  c.train.out = dir.file("stopped");
  REQUIRE_THROWS_WITH(train::run_training(c, false),
                      data + (silent_first ? ": clip 3 (clip3): silent (every value at the front end's floor)"
                                           : ": clip 10 (clip10): no labels") + " (data.bad_clips = stop)");
}
