// Training/evaluation loader over a spectrogram HDF5 file (data/spectrogram_h5.h).
//   - order: per epoch, a permutation drawn from (seed, epoch) with Philox (engine/rng.h), identical on every
//     rank, then sharded like torch's DistributedSampler: drop_last gives each rank floor(N/W) clips (the
//     tail of the permutation is dropped), otherwise the permutation is padded by wrapping to ceil(N/W)*W
//     clips (pad) or not padded (rank r then has ceil((N-r)/W) clips, and no clip is visited twice: what
//     evaluation needs); rank r takes positions r, r+W, r+2W, ... Batches of batch_size; drop_last drops a
//     short last one.
//   - per clip: dB log-mel read (float16/32 -> float), augment_clip (when cfg.augment, key = epoch*2^32 + clip
//     index), then (x - mean) / stddev as torchvision's Normalize.
//   - bad clips (data/spectrogram_check.h: NaN/inf, silent, no labels), judged on the stored values before
//     augmentation: kept (keep: a NaN/inf still makes next() throw, as SpectrogramReader::read does), left
//     out of their batch (skip: the batch has fewer rows, Batch::skipped names them; a batch may end empty),
//     or a UserError naming the clip (stop).
//   - workers threads build whole batches ahead of next(), at most prefetch_batches ahead; a batch depends only
//     on (seed, epoch, batch number), never on thread timing. workers = 0 builds in the calling thread.
// Dimension letters: B batch, M mel bins, T frames, K classes, N clips in the file, W world size.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/augment.h"
#include "data/model_input.h"
#include "data/spectrogram_check.h"
#include "data/spectrogram_h5.h"
#include "engine/tensor.h"

namespace engine::data {

struct LoaderConfig {
  std::string path;
  int batch_size = 32;
  bool shuffle = true;
  bool drop_last = true;  // both the sampler's (floor(N/W) per rank) and the batcher's (no short last batch)
  bool pad = true;        // without drop_last: pad the shards to equal sizes with repeated clips (see above)
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
  int workers = 2;
  int prefetch_batches = 4;
  float mean = kInputMean, stddev = kInputStd;
  bool augment = false;
  AugmentConfig augment_cfg;
  enum class BadClips { keep, skip, stop } bad_clips = BadClips::keep;  // see above
};

struct SkippedClip {
  int64_t index = 0;
  std::string message;  // names the file, the clip and what is wrong with it
  ClipFaults faults;
};

struct Batch {
  Tensor x;  // (B, M, T, 1) f32 CPU, normalised
  Tensor y;  // (B, K) f32 CPU, 0/1
  std::vector<int64_t> indices;  // (B) clip indices in the file
  std::vector<SkippedClip> skipped;  // clips of this batch left out (BadClips::skip)
  int64_t epoch = 0;
};

// Where the loader stands: next() returns batch `position` of `epoch` next. position == batches_per_epoch()
// means the epoch is done (the next call returns false and moves to epoch + 1).
struct LoaderState {
  int64_t epoch = 0;
  int64_t position = 0;
  uint64_t seed = 0;
  int world_size = 1;  // ranks of the run that saved it (absent in older checkpoints: 1)
  int64_t batch = 0;   // its clips per rank and micro-batch (absent in older checkpoints: 0, unknown)
};
void to_json(nlohmann::json& j, const LoaderState& s);
void from_json(const nlohmann::json& j, LoaderState& s);

// The permutation of [0, n) for an epoch: Fisher-Yates driven by Philox(seed, epoch).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);
// The clip indices that `rank` of `world` visits in `epoch`, in order (DistributedSampler semantics).
std::vector<int64_t> shard_indices(int64_t n, uint64_t seed, int64_t epoch, bool shuffle, bool drop_last, int rank,
                                   int world, bool pad = true);

class Loader {
 public:
  explicit Loader(const LoaderConfig& cfg);  // opens the file; UserError on a bad file or configuration
  ~Loader();                                 // stops and joins the workers, also mid-epoch
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch; false at the end of an epoch (the next call starts the next epoch). A worker's error
  // (e.g. NaN in a clip) is rethrown here, when its batch is due.
  bool next(Batch& out);
  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;  // clips this rank visits per epoch (before batch drop_last)
  LoaderState state() const;
  // Continues from a saved state: the remaining batches are exactly those the saved run would have produced.
  void restore(const LoaderState& s);
  const SpectrogramReader& reader() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engine::data
