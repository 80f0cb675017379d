// What a model is, for people and for files:
//   print_summary: what engine_models --summary and engine_train_<arch> --summary print (name, variant,
//     per-stage activation shapes from one forward pass, and the unique trainable parameter count as
//     PyTorch's sum(p.numel() for p in model.parameters()), as "parameters: N");
//   model_metadata / model_config_from_file: the safetensors metadata ("model", "dims", "depths",
//     "num_classes") that lets engine_eval and engine_tag rebuild the model a weights file holds.
#pragma once
#include <map>
#include <string>

#include "models/audio_model.h"

namespace engine::models {

void print_summary(AudioTagger& model, int mel_bins = 128, int frames = 1001);

std::map<std::string, std::string> model_metadata(const ModelConfig& c);
// The model a weights file describes: from its metadata, or from `fallback_name` (e.g. --model) at the
// paper's size for files without it (converted PyTorch checkpoints). UserError when neither says.
ModelConfig model_config_from_file(const std::string& weights_path, const std::string& fallback_name);
// The same from metadata already read (weights_path names the file in messages).
ModelConfig model_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                       const std::string& weights_path, const std::string& fallback_name);

}  // namespace engine::models
