// Reader of PANNs-style waveform HDF5 files, the packed AudioSet that PANNs and DCLS-Audio train from
// (PANNs utils/dataset.py::pack_waveforms_to_hdf5): datasets
//   audio_name (N,)    fixed- or variable-length strings, e.g. "Y--PJHxphWEs.wav"
//   waveform   (N, S)  int16 PCM (S = 320000 at 32 kHz), read as x / 2^15 like DCLS-Audio; float is taken as is
//   target     (N, K)  bool (h5py's enum), integer or float multi-hot; nonzero -> 1
// and the root attribute sample_rate (32000 when absent).
// Every HDF5 call holds hdf5_lock() (data/spectrogram_h5.h): Debian's HDF5 is not thread-safe.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace engine::data {

class PannsWaveformFile {
 public:
  explicit PannsWaveformFile(const std::string& path);  // UserError naming the file and what is wrong
  ~PannsWaveformFile();
  PannsWaveformFile(const PannsWaveformFile&) = delete;
  PannsWaveformFile& operator=(const PannsWaveformFile&) = delete;

  int64_t size() const { return int64_t(names_.size()); }
  int64_t clip_samples() const { return samples_; }  // S
  int num_classes() const { return classes_; }       // K
  int sample_rate() const { return sample_rate_; }
  const std::string& path() const { return path_; }
  const std::string& name(int64_t i) const { return names_.at(size_t(i)); }
  // Clip i: wave (S) in [-1, 1), target (K) 0/1. Thread-safe.
  void read(int64_t i, float* wave, uint8_t* target) const;

 private:
  std::string path_;
  int64_t file_ = -1, waveform_ = -1, target_ = -1;  // hid_t
  std::vector<std::string> names_;
  int64_t samples_ = 0;
  int classes_ = 0, sample_rate_ = 32000;
  bool float_wave_ = false;  // waveform stored as float (else 16-bit integer PCM)
};

}  // namespace engine::data
