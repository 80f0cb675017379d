// The training configuration: one TOML file per run (configs/*.toml), every key overridable on the command
// line as --<section>.<key> VALUE. The effective configuration is printed and saved beside the checkpoints
// (config.toml), and a resumed run must match it.
//
//   [model]  arch, variant, dims, depths, norm, head_pool, drop_path, layer_scale_init, num_classes
//   [data]   train, eval, workers, augment, mixup_alpha, label_smoothing, eval_batch, bad_clips
//   [optim]  optimizer, lr, lr_batch, min_lr, warmup_epochs, warmup_steps, weight_decay, beta1, beta2, eps,
//            dcls_lr_scale, max_grad_norm
//   [train]  epochs, batch, update_freq, seed, device, ema, ema_decay, eval_every, log_every, keep_last,
//            on_nonfinite, out, dist_timeout, check_every
// Meaning of each key: the table in config.cpp (also printed by --help). Unknown keys, values of the
// wrong type and out-of-range values are UserErrors naming the file (or flag) and the key.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace engine::train {

struct TrainConfig {
  struct Model {
    std::string arch = "convnext";  // convnext | convformer | fastvit
    std::string variant = "dcls";   // dsc | dcls
    std::vector<int64_t> dims, depths;  // empty: the paper's sizes
    std::string norm = "layer";         // layer (the paper's) | batch (ConvNeXt only)
    std::string head_pool = "mean";     // mean (the paper's) | time_max_mean
    double drop_path = 0.4;
    double layer_scale_init = 1e-6;  // main.py --layer_scale_init_value (ConvNeXt gamma, FastViT layer scales)
    int64_t num_classes = 527;
  } model;
  struct Data {
    std::string train, eval;  // spectrogram HDF5 files (engine_prep); relative paths: from the working directory
    int64_t workers = 2;
    bool augment = true;
    double mixup_alpha = 0.8;  // 0: no mixup
    double label_smoothing = 0.1;
    int64_t eval_batch = 64;
    std::string bad_clips = "skip";  // skip | stop: clips with NaN/inf, silent or without labels
  } data;
  struct Optim {
    std::string optimizer = "adamw";  // adamw | lamb
    double lr = 4e-3;
    int64_t lr_batch = 4096;  // lr is for this total batch; the run uses lr * total_batch / lr_batch
    double min_lr = 1e-6;
    int64_t warmup_epochs = 20;
    int64_t warmup_steps = -1;  // > 0: overrides warmup_epochs
    double weight_decay = 0.05;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double dcls_lr_scale = 5.0;
    double max_grad_norm = 1.0;  // LAMB only
  } optim;
  struct Train {
    int64_t epochs = 60;
    int64_t batch = 128;  // per device
    int64_t update_freq = 1;
    int64_t seed = 0;
    std::string device = "auto";  // auto | cpu | cuda
    bool ema = false;
    double ema_decay = 0.9999;
    int64_t eval_every = 1;  // epochs; 0: only at the end
    int64_t log_every = 50;  // optimizer steps
    int64_t keep_last = 2;   // periodic checkpoints kept besides the best
    std::string on_nonfinite = "skip";  // skip | stop
    std::string out = "runs/train";
    double dist_timeout = 300;  // seconds (data-parallel runs, docs/distributed.md)
    int64_t check_every = 100;  // optimizer steps between checks that all ranks hold the same parameters; 0: never
  } train;

  // world_size: data-parallel ranks, each with its own train.batch x train.update_freq clips per step.
  int64_t total_batch(int world_size = 1) const { return train.batch * train.update_freq * world_size; }
  double effective_lr(int world_size = 1) const {
    return optim.lr * double(total_batch(world_size)) / double(optim.lr_batch);
  }
};

// The paper's run for an architecture and variant (shared/spec/recipe.md D.5): the defaults above, with
// ConvFormer's LAMB and 64 x 2 per device.
TrainConfig paper_config(const std::string& arch, const std::string& variant);

// Reads a TOML file over `base` (keys absent from the file keep base's values).
TrainConfig load_config(const std::string& path, TrainConfig base);

// Every key, for the command line: "section.key", its help text, and a setter from the text of a value
// (parsed as a TOML value; bare words are taken as strings for string keys, and a list may omit its [ ]).
struct ConfigKey {
  std::string name, help, type;  // type: "TEXT", "INT", "FLOAT", "BOOL" or "INT,INT,INT,INT"
  std::function<void(TrainConfig&, const std::string& text)> set;
};
std::vector<ConfigKey> config_keys();

// Checks ranges and choices; UserError naming the key.
void validate(const TrainConfig& c);

// The configuration as TOML, every key; load_config of the result reproduces it exactly.
std::string to_toml(const TrainConfig& c);

// The first key whose value differs, "" when equal.
std::string first_difference(const TrainConfig& a, const TrainConfig& b);

}  // namespace engine::train
