// Held-out evaluation of a tagger on a spectrogram HDF5: every clip once, in file order, no augmentation,
// eval mode (drop path off, BatchNorm running statistics); the mean BCE against the unsmoothed targets and
// the tagging metrics of train/metrics.h. Split over data-parallel ranks when given their communicator.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/distributed.h"
#include "engine/tensor.h"
#include "models/audio_model.h"
#include "train/metrics.h"

namespace engine::train {

struct Evaluation {
  TaggingMetrics metrics;
  double loss = 0;
  double seconds = 0;
};

// comm of more than one rank: each rank evaluates every W-th clip (no clip twice, no padding) and every rank
// returns the metrics of all N clips, from the scores gathered in file order.
Evaluation evaluate(models::AudioTagger& model, const std::string& h5_path, int batch, Device device, int workers,
                    dist::Communicator* comm = nullptr);

// {"map", "mauc", "dprime_mean_of_classes", "dprime_of_mean_auc", "classes", "clips", "loss"}
nlohmann::json evaluation_json(const Evaluation& e);

// "mAP 0.4123  mAUC 0.8812  d' 1.92 (mean of classes) / 1.67 (of mean AUC)  loss 0.0312  (101 classes, 500 clips)"
std::string evaluation_summary(const Evaluation& e);

// The class table for per-class output: AudioSet's 527 classes when the data has 527, else "class <i>".
void class_table(int num_classes, std::vector<std::string>& mids, std::vector<std::string>& names);

}  // namespace engine::train
