// Tagging audio files with a trained model: each file is decoded in chunks (data/audio_io.h AudioReader,
// resampled to the model's rate), cut into windows (tag/windows.h), turned into the model's input by the
// training front end (data/logmel.h + data/model_input.h normalisation, the code engine_prep and the loader
// run), and scored in batches that span files. Memory stays bounded: at most `jobs` files are decoded at
// once, each at most a few windows ahead of the model.
//
// Threads: `jobs` decoders (one file each) feed one model thread (the caller's). Batches are cut from the
// windows of all files in input order, so the scores do not depend on thread timing.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/model_input.h"
#include "engine/tensor.h"
#include "models/audio_model.h"
#include "tag/windows.h"

namespace engine::tag {

struct TagOptions {
  double hop_s = 5.0;         // between window starts; the window is the model's input length
  int batch = 8;              // windows per forward pass
  int jobs = 2;               // files decoded concurrently
  Device device = Device::CPU;
  std::function<void(int64_t)> on_batch;  // optional: called after each forward pass with its window count
};

// One file's outcome.
struct FileTags {
  std::string path;
  std::string error;          // non-empty: not tagged, the reason (e.g. "<path>: empty file (0 bytes)")
  int sample_rate = 0;        // of the file
  int channels = 0;
  int64_t samples = 0;        // at the model's rate
  double duration_s = 0;
  int64_t windows = 0;
  std::vector<float> scores;  // (windows, K) sigmoid probabilities
};

class Tagger {
 public:
  // The model in its inference form (FastViT reparameterized), in eval mode, moved to opt.device.
  Tagger(std::shared_ptr<models::AudioTagger> model, const data::ModelInput& input, const TagOptions& opt);
  ~Tagger();

  const WindowPlan& plan() const;
  int num_classes() const;
  const models::AudioTagger& model() const;

  // Tags `files`; calls on_file(index, tags) once per file, in input order, as soon as the file and every
  // file before it are done. A file that cannot be read, is truncated or fails to decode gets `error` and
  // no scores; the others are tagged. Exceptions from on_file or the model stop the run and propagate.
  void run(const std::vector<std::string>& files, const std::function<void(size_t, FileTags&)>& on_file);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engine::tag
