#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/check.h"
#include "engine/safetensors.h"
#include "models/model_info.h"

namespace engine::train {

namespace fs = std::filesystem;

namespace {

const char* kEmaPrefix = "ema.";

int64_t step_of(const std::string& dir_name) {
  const std::string prefix = "checkpoint-";
  if (dir_name.size() != prefix.size() + 9 || dir_name.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = dir_name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  USER_CHECK(in, path, ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "checkpoint-%09lld", (long long)step);
  return buf;
}

std::string write_checkpoint(const std::string& run_dir, const models::AudioTagger& model,
                             const data::ModelInput& input, const ParameterArena& arena, int ema_slot,
                             const RunState& state) {
  const fs::path final_dir = fs::path(run_dir) / checkpoint_name(state.step);
  if (fs::exists(final_dir / "state.json")) return final_dir.string();
  const fs::path tmp = fs::path(run_dir) / ("." + checkpoint_name(state.step) + ".partial-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  USER_CHECK(!ec, tmp.string(), ": cannot create the checkpoint directory (", ec.message(), ")");
  try {
    auto meta = models::model_metadata(model.config());
    meta.merge(data::model_input_metadata(input));
    save_module(model, (tmp / "model.safetensors").string(), meta);

    NamedTensors moments;
    const auto& segs = arena.segments();
    for (size_t i = 0; i < segs.size(); ++i) {
      moments.emplace_back("exp_avg." + segs[i].name, arena.state_of(0, i));
      moments.emplace_back("exp_avg_sq." + segs[i].name, arena.state_of(1, i));
      if (ema_slot >= 0) moments.emplace_back(kEmaPrefix + segs[i].name, arena.state_of(ema_slot, i));
    }
    save_safetensors((tmp / "optimizer.safetensors").string(), moments);

    if (ema_slot >= 0) {
      // The EMA weights as a model file: live buffers, EMA parameters (swapped in through a copy of the state).
      NamedTensors sd = model.state_dict();
      std::map<const TensorImpl*, Tensor> ema_of;
      NamedTensors params = model.named_parameters();
      for (size_t i = 0; i < segs.size(); ++i)
        for (const auto& [name, t] : params)
          if (name == segs[i].name) ema_of[t.impl_ptr().get()] = arena.state_of(ema_slot, i);
      for (auto& [name, t] : sd) {
        auto e = ema_of.find(t.impl_ptr().get());
        if (e != ema_of.end()) t = e->second;
      }
      save_safetensors((tmp / "model_ema.safetensors").string(), sd, meta);
    }

    nlohmann::json j;
    j["step"] = state.step;
    j["optimizer_steps"] = state.optimizer_steps;
    j["loader"] = state.loader;
    j["best_map"] = state.best_map;
    j["best_step"] = state.best_step;
    j["skipped_steps"] = state.skipped_steps;
    const RunState::BadClips& bad = state.epoch_bad;
    j["epoch_bad_clips"] = {{"clips", bad.clips}, {"non_finite", bad.non_finite}, {"silent", bad.silent},
                            {"unlabelled", bad.unlabelled}};
    j["eval"] = state.eval;
    j["model"] = meta.at("model");
    write_file_atomic((tmp / "state.json").string(), j.dump(1) + "\n");
    fsync_directory(tmp.string());
    fs::rename(tmp, final_dir, ec);
    USER_CHECK(!ec, final_dir.string(), ": cannot move the checkpoint into place (", ec.message(), ")");
    fsync_directory(run_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return final_dir.string();
}

std::string latest_checkpoint(const std::string& run_dir) {
  int64_t best = -1;
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    const int64_t s = step_of(e.path().filename().string());
    if (s > best && fs::is_regular_file(e.path() / "state.json")) best = s, out = e.path().string();
  }
  return out;
}

RunState read_checkpoint(const std::string& ckpt_dir, models::AudioTagger& model, ParameterArena& arena, int ema_slot) {
  const fs::path dir(ckpt_dir);
  const std::string weights = (dir / "model.safetensors").string();
  const models::ModelConfig saved = models::model_config_from_file(weights, "");
  const models::ModelConfig& mine = model.config();
  const auto saved_meta = models::model_metadata(saved), my_meta = models::model_metadata(mine);
  for (const char* key : {"model", "dims", "depths", "num_classes", "norm", "head_pool"})
    USER_CHECK(saved_meta.at(key) == my_meta.at(key), ckpt_dir, ": the checkpoint holds ", key, " = ",
               saved_meta.at(key), ", this run has ", my_meta.at(key));
  load_module(model, weights);

  SafetensorsFile opt = load_safetensors((dir / "optimizer.safetensors").string());
  std::map<std::string, Tensor> by_name(opt.tensors.begin(), opt.tensors.end());
  const auto& segs = arena.segments();
  for (size_t i = 0; i < segs.size(); ++i) {
    std::vector<std::pair<std::string, int>> wanted = {{"exp_avg." + segs[i].name, 0}, {"exp_avg_sq." + segs[i].name, 1}};
    if (ema_slot >= 0) wanted.push_back({kEmaPrefix + segs[i].name, ema_slot});
    for (const auto& [key, slot] : wanted) {
      auto it = by_name.find(key);
      USER_CHECK(it != by_name.end(), ckpt_dir, "/optimizer.safetensors: no ", key,
                 slot == ema_slot ? " (was the run started without train.ema?)" : "");
      Tensor dst = arena.state_of(slot, i);
      USER_CHECK(it->second.shape() == dst.shape(), ckpt_dir, "/optimizer.safetensors: ", key, " has shape ",
                 shape_str(it->second.shape()), ", expected ", shape_str(dst.shape()));
      dst.copy_(it->second);
    }
  }

  const std::string state_path = (dir / "state.json").string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(state_path));
    RunState s;
    s.step = j.at("step").get<int64_t>();
    s.loader = j.at("loader").get<data::LoaderState>();
    s.best_map = j.at("best_map").get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.skipped_steps = j.at("skipped_steps").get<int64_t>();
    // Absent from checkpoints written when only non-finite steps were skipped.
    s.optimizer_steps = j.value("optimizer_steps", s.step - s.skipped_steps);
    if (j.contains("epoch_bad_clips")) {  // absent from checkpoints written before the loader judged clips
      const nlohmann::json& bad = j["epoch_bad_clips"];
      s.epoch_bad = {bad.at("clips").get<int64_t>(), bad.at("non_finite").get<int64_t>(),
                     bad.at("silent").get<int64_t>(), bad.at("unlabelled").get<int64_t>()};
    }
    s.eval = j.at("eval");
    return s;
  } catch (const nlohmann::json::exception& e) {
    user_error(state_path, ": not a valid checkpoint state (", e.what(), ")");
  }
}

void update_checkpoints(const std::string& run_dir, const std::string& best_dir, int64_t keep_last) {
  std::error_code ec;
  const fs::path link = fs::path(run_dir) / "checkpoint-best";
  if (!best_dir.empty()) {
    const fs::path tmp = fs::path(run_dir) / (".checkpoint-best.tmp-" + std::to_string(::getpid()));
    fs::remove(tmp, ec);
    fs::create_directory_symlink(fs::path(best_dir).filename(), tmp, ec);
    USER_CHECK(!ec, tmp.string(), ": cannot create the symlink (", ec.message(), ")");
    fs::rename(tmp, link, ec);
    USER_CHECK(!ec, link.string(), ": cannot update the symlink (", ec.message(), ")");
  }
  std::string best_name;
  if (fs::is_symlink(link)) best_name = fs::read_symlink(link, ec).filename().string();
  std::vector<std::pair<int64_t, fs::path>> periodic;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    const int64_t s = step_of(e.path().filename().string());
    if (s >= 0 && e.path().filename().string() != best_name) periodic.push_back({s, e.path()});
  }
  std::sort(periodic.rbegin(), periodic.rend());
  for (size_t i = size_t(keep_last); i < periodic.size(); ++i) {
    // Renamed out of sight first: a kill during the removal leaves a hidden leftover (removed by the next
    // run), never a checkpoint with some of its files gone.
    const fs::path hidden = fs::path(run_dir) / ("." + periodic[i].second.filename().string() + ".removing-" +
                                                 std::to_string(::getpid()));
    fs::rename(periodic[i].second, hidden, ec);
    if (!ec) fs::remove_all(hidden, ec);
  }
}

CheckpointModel load_checkpoint_model(const std::string& checkpoint, const std::string& model_name, bool ema) {
  fs::path weights(checkpoint);
  USER_CHECK(fs::exists(weights), "--checkpoint ", checkpoint, ": no such file or directory");
  if (fs::is_directory(weights)) {
    if (!fs::exists(weights / "model.safetensors") && fs::exists(weights / "checkpoint-best")) weights /= "checkpoint-best";
    weights /= ema ? "model_ema.safetensors" : "model.safetensors";
    USER_CHECK(fs::is_regular_file(weights), "--checkpoint ", checkpoint, ": no ", weights.filename().string(),
               " in it (a checkpoint directory holds model.safetensors)");
  } else {
    USER_CHECK(!ema, "--ema: needs a checkpoint directory");
  }
  CheckpointModel out;
  out.weights = weights.string();
  SafetensorsFile f = load_safetensors(out.weights);
  out.model = models::create_model(models::model_config_from_metadata(f.metadata, out.weights, model_name));
  out.input = data::model_input_from_metadata(f.metadata, out.weights);
  try {
    out.model->load_state_dict(f.tensors);
  } catch (const UserError& e) {
    user_error(out.weights, ": ", e.what());
  }
  out.model->eval();
  return out;
}

}  // namespace engine::train
