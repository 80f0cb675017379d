// What a tagger's input is: the log-mel front end and the normalisation it was trained with. The trainer
// records both in the weights' safetensors metadata (key "front_end", a JSON object), so that engine_tag
// turns audio into exactly what the model saw; files without it (converted PyTorch checkpoints) get the
// paper's (recipe.md D.2).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "data/logmel.h"

namespace engine::data {

// recipe.md D.2 step 8: torchvision Normalize of the dB log-mel with the AudioSet statistics.
constexpr float kInputMean = -18.2696f;
constexpr float kInputStd = 30.5735f;

struct ModelInput {
  FrontEndConfig fe;
  float mean = kInputMean, stddev = kInputStd;
};

// {"front_end": "{\"sample_rate\":32000,...,\"mean\":-18.2696,\"std\":30.5735}"}
std::map<std::string, std::string> model_input_metadata(const ModelInput& in);
// The ModelInput a weights file's metadata records, else the paper's. UserError naming `file` for a
// malformed or invalid entry.
ModelInput model_input_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file);

// x <- (x - mean) / stddev over n values, as torch does it (subtract, then divide): the loader's and the
// tagger's one normalisation.
inline void normalise_logmel(float* x, int64_t n, float mean, float stddev) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) x[k] = (x[k] - mean) / stddev;
}

}  // namespace engine::data
