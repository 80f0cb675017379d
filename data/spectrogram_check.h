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

namespace engine::data {

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
