// The training loop of the paper's recipe (shared/spec/recipe.md D.3-D.5) over the library's parts:
//   loader (data/loader.h, augmentations) -> label smoothing + mixup (per batch, from (seed, micro-batch))
//   -> forward (drop path from (seed, micro-batch)) -> BCE-with-logits / update_freq -> backward
//   accumulated over update_freq micro-batches -> non-finite check -> optimizer step at the scheduled lr
//   (train/schedule.h, per parameter group) -> EMA.
// Per epoch: niter = floor(batches per epoch / update_freq) optimizer steps (leftover micro-batches are
// skipped); every train.eval_every epochs and at the end: held-out evaluation, checkpoint, best kept.
// On the CPU a run is a pure function of its configuration (and world size): N steps equal N/2 steps +
// resume + N/2 steps, bit for bit.
#pragma once
#include <cstdint>
#include <string>

#include "engine/distributed.h"
#include "train/config.h"
#include "train/evaluate.h"

namespace engine::train {

struct TrainOutcome {
  bool finished = false;  // false: stopped by a signal after writing a checkpoint
  bool evaluated = false;
  Evaluation final_eval;  // of the final weights (when data.eval is set)
  int64_t steps = 0;
  double train_seconds = 0, samples_per_second = 0;
};

// Starts the run described by `config` in config.train.out (UserError when that directory already holds
// a checkpoint), or with resume = true continues its newest checkpoint. stop_after > 0: stop (with a
// checkpoint, as on SIGINT) after that many optimizer steps of this process.
// comm: the data-parallel ranks (engine/distributed.h); nullptr: those the launcher's environment describes
// (dist::connect; one rank when not launched by mpirun, srun or torchrun-style variables). With more than one
// rank (docs/distributed.md): rank 0's weights broadcast at the start, each rank trains on its shard of every
// batch (train.batch clips per rank; the learning rate follows the total batch, batch x update_freq x ranks),
// gradients averaged over the ranks after the last micro-batch of a step, evaluation split over the ranks,
// rank 0 alone prints, logs and writes checkpoints, parameters compared every train.check_every steps. A
// rank's error ends every rank (its message, then exit 2, or 3 for an internal error).
TrainOutcome run_training(const TrainConfig& config, bool resume, int64_t stop_after = 0,
                          dist::Communicator* comm = nullptr);

// SIGINT / SIGTERM: finish the current step, write a checkpoint, return (a second signal kills).
void install_stop_handlers();

// The model a configuration describes (sizes, classes, drop path, seed).
models::ModelConfig model_config_of(const TrainConfig& c);

}  // namespace engine::train
