// engine_prep --check: what is in a spectrogram HDF5, and what in it would hurt a training run.
//   problems:  clips whose log-mel holds NaN/inf (or a label other than 0/1), silent clips (every value at
//              the front end's floor, 10 log10(amin)), clips without any label, and clips whose log-mel and
//              labels equal an earlier clip's (duplicates);
//   labels:    labels per clip, classes present, the most frequent classes;
//   checksum:  SHA-256 over every clip's name, labels and stored log-mel values in file order, so that two
//              users can tell whether they hold the same data whatever HDF5 made of the bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/logmel.h"

namespace engine::data {

// What makes one clip unfit for training: the rule shared by engine_prep --check and the training loader
// (data/loader.h, LoaderConfig::bad_clips).
struct ClipFaults {
  std::string non_finite;  // SpectrogramReader::read's message (NaN/inf, or a label other than 0/1); "" if none
  bool silent = false;     // every log-mel value at or below the front end's floor, 10 log10(amin)
  bool unlabelled = false;  // no label set
  bool any() const { return !non_finite.empty() || silent || unlabelled; }
  std::string describe() const;  // the non-finite message, "silent (...)", "no labels", joined by ", "
};
// `logmel` (M x T values, dB) and `labels` (K) as SpectrogramReader::read returned them with its `problem`.
ClipFaults clip_faults(const float* logmel, int64_t n, const uint8_t* labels, int num_classes,
                       const FrontEndConfig& fe, std::string read_problem);

struct ClipProblem {
  int64_t index = 0;
  std::string name, what;  // e.g. "silent", "no labels", "duplicate of clip 3 (DEBT0000003)", the NaN message
};

struct SpectrogramCheck {
  std::string path;
  int64_t clips = 0;
  int num_classes = 0;
  std::string describe;               // "2000 clips of 128 x 1001 float16, 527 classes, front end: ..."
  std::string sha256;                 // hex
  std::vector<ClipProblem> non_finite, silent, unlabelled, duplicates;
  std::vector<int64_t> positives;     // (K) clips per class
  int64_t labels_total = 0, labels_min = 0, labels_max = 0;

  bool ok() const { return non_finite.empty() && silent.empty() && unlabelled.empty() && duplicates.empty(); }
  // The report printed by engine_prep --check; class names from AudioSet's table when K is 527.
  std::string report() const;
};

// Reads every clip once. UserError for a file that is not a complete spectrogram HDF5.
SpectrogramCheck check_spectrogram_file(const std::string& path);

}  // namespace engine::data
