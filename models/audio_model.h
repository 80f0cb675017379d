// The paper's six audio taggers behind one interface (shared/spec/models.md):
//   convnext_audio_tiny    convnext_dcls_audio_tiny     ConvNeXt-T      (models/convnext.*)
//   convformer_audio_s18   convformer_dcls_audio_s18    ConvFormer-S18  (models/convformer.*)
//   fastvit_audio_sa24     fastvit_dcls_audio_sa24      FastViT-SA24    (models/fastvit.*)
// The `dsc` variant has depthwise 7x7 convs, the `dcls` variant DCLS-Gauss (23x23 span, 26 elements) in
// their place, with P/SIG shared per stage (models.md §0).
//
// Dimension legend: N batch, H mel bins (128), W frames (1001), C channels, K classes (527).
// Input  x (N, H, W, 1): log-mel, normalised; channels-last, which for one channel is the same memory as
//        PyTorch's (N, 1, H, W).
// Output   (N, K) logits (no sigmoid; the loss applies it).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/module.h"
#include "engine/rng.h"

namespace engine::models {

enum class Variant { dsc, dcls };
// ConvNeXt's normalisation layers: the paper's LayerNorm, or BatchNorm in every one of their places (not
// the paper's model: a short CPU run trains faster with it, docs/training.md).
enum class Norm { layer, batch };
// How the head pools the last stage's (N, H, W, C) map to (N, C): the paper's mean over frequency and
// time, or the frequency mean's maximum plus mean over time (PANNs; not the paper's, ops/pool.h).
enum class HeadPool { mean, time_max_mean };

struct ModelConfig {
  std::string arch;                  // "convnext" | "convformer" | "fastvit"
  Variant variant = Variant::dsc;
  std::vector<int> depths;           // blocks per stage (4 stages); the paper's sizes by default
  std::vector<int> dims;             // channels per stage
  int num_classes = 527;
  double drop_path_rate = 0.0;       // linear schedule 0 .. rate over all blocks (the paper trains at 0.4)
  double layer_scale_init = 1e-6;    // ConvNeXt gamma, FastViT layer_scale*: main.py's value
  int dcls_kernel_count = 26;        // DCLS elements per kernel
  int dcls_span = 23;                // DCLS dilated kernel size (square)
  Norm norm = Norm::layer;           // ConvNeXt only; the other two have the paper's norms
  HeadPool head_pool = HeadPool::mean;
  uint64_t seed = 0;                 // initialisation (models.md §4), reproducible across platforms
};

// One line of the --summary table: a named point of the forward pass and its activation shape.
struct StageShape {
  std::string name;  // e.g. "stem", "stage 0", "head"
  Shape shape;       // e.g. {1, 64, 62, 96} (channels-last)
};

class AudioTagger : public Module {
 public:
  // x (N, H, W, 1) -> (N, K). In training mode drop path draws from `gen` (seed, next_offset()).
  // When `shapes` is given, the model appends the shape after the stem, after each stage and at the head.
  virtual Tensor forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes = nullptr) = 0;
  const ModelConfig& config() const { return config_; }
  // The paper code's model name, e.g. "convnext_dcls_audio_tiny".
  std::string name() const;

 protected:
  explicit AudioTagger(ModelConfig config) : config_(std::move(config)) {}
  // The head's pooling (ModelConfig::head_pool): (N, H, W, C) -> (N, C).
  Tensor pool(const Tensor& x) const;
  ModelConfig config_;
};

// The paper code's name of a configuration's arch and variant, e.g. "convnext_dcls_audio_tiny".
std::string model_name(const ModelConfig& config);

// The six names above, in that order.
const std::vector<std::string>& model_names();
// The paper's configuration of a model name (UserError listing the valid names for an unknown one).
ModelConfig default_config(const std::string& name);
// Builds and initialises the model described by `config`.
std::shared_ptr<AudioTagger> create_model(const ModelConfig& config);

// Each architecture's source file registers its builder: ENGINE_REGISTER_ARCH(convnext, make_convnext).
using ArchBuilder = std::shared_ptr<AudioTagger> (*)(const ModelConfig&);
struct ArchRegistrar {
  ArchRegistrar(const char* arch, ArchBuilder build);
};

}  // namespace engine::models

#define ENGINE_REGISTER_ARCH(arch, builder) \
  static ::engine::models::ArchRegistrar engine_arch_registrar_##arch(#arch, builder)
