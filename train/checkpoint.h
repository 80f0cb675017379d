// Checkpoints of a training run. A run directory (train.out) holds:
//   config.toml                  the effective configuration (a resumed run must match it)
//   log.jsonl                    one JSON object per logged step and per evaluation
//   per_class_ap.csv             per-class AP/AUC of the latest evaluation
//   checkpoint-<step>/           step zero-padded to 9 digits
//     model.safetensors          weights and buffers under PyTorch's names (loadable by the paper's code with
//                                safetensors.torch.load_model), the model's name and sizes in the metadata
//     model_ema.safetensors      the EMA weights (train.ema), same form
//     optimizer.safetensors      exp_avg.<param>, exp_avg_sq.<param> (and ema.<param>) per parameter
//     state.json                 step, loader position, best mAP, metrics of its evaluation (every random
//                                draw derives from (seed, step), so the step is the RNG state)
//   checkpoint-best -> checkpoint-<step>   symlink to the checkpoint with the best held-out mAP
// A checkpoint is written into a hidden temporary directory (every file fsynced) and renamed into place, so
// a kill at any moment leaves the previous checkpoints intact and never a half-written one under a final name.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "data/model_input.h"
#include "engine/param_arena.h"
#include "models/audio_model.h"

namespace engine::train {

struct RunState {
  int64_t step = 0;           // optimizer steps done
  int64_t optimizer_steps = 0;  // of those, the ones that updated (not skipped): the optimizer's bias correction
  data::LoaderState loader;   // where the training loader stands
  double best_map = -1;       // best held-out mAP so far (-1: none yet)
  int64_t best_step = -1;
  int64_t skipped_steps = 0;  // non-finite steps skipped
  // Bad clips left out of training so far in the current epoch (data.bad_clips = skip), for its summary:
  // clips, and clips per fault (a clip may have several).
  struct BadClips {
    int64_t clips = 0, non_finite = 0, silent = 0, unlabelled = 0;
  } epoch_bad;
  nlohmann::json eval;        // metrics of the evaluation at this step (null if none)
};

std::string checkpoint_name(int64_t step);

// Writes run_dir/checkpoint-<step> (see above); the weights' metadata records the model and its input (front
// end, normalisation). `ema_slot` < 0: no EMA. Returns its path. A checkpoint of that step already present
// is kept as it is (it holds the same state).
std::string write_checkpoint(const std::string& run_dir, const models::AudioTagger& model,
                             const data::ModelInput& input, const ParameterArena& arena, int ema_slot,
                             const RunState& state);

// The newest complete checkpoint of a run, "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

// Loads weights, optimizer moments (and EMA) into the model/arena and returns the run state. UserError when
// the checkpoint is of another model, variant or size (naming both).
RunState read_checkpoint(const std::string& ckpt_dir, models::AudioTagger& model, ParameterArena& arena, int ema_slot);

// Points run_dir/checkpoint-best at ckpt_dir (atomically) and removes periodic checkpoints beyond the
// newest `keep_last`, never the best.
void update_checkpoints(const std::string& run_dir, const std::string& best_dir, int64_t keep_last);

// A model ready to run, from what a user names with --checkpoint: a weights file (ours, or a PyTorch one
// converted with tools/convert_pth_checkpoint.py: then `model_name` names the model), a checkpoint directory
// (its model.safetensors, or model_ema.safetensors when `ema`) or a run directory (its checkpoint-best).
// UserError naming the path for anything else, or for weights that do not fit the model.
struct CheckpointModel {
  std::shared_ptr<models::AudioTagger> model;  // in eval mode, on the CPU
  data::ModelInput input;                      // from the metadata, else the paper's
  std::string weights;                         // the file the weights came from
};
CheckpointModel load_checkpoint_model(const std::string& checkpoint, const std::string& model_name, bool ema);

}  // namespace engine::train
