// Log-mel spectrogram files (HDF5): written once by preprocessing, read at random by the training loader.
// Layout, attributes and the crash/resume rules: docs/spectrogram-hdf5.md.
// Dimension letters: N clips, M mel bins (fe.n_mels), T frames (fe.frames()), K classes.
//
// Debian's HDF5 is the serial (non-thread-safe) build: every HDF5 call in the engine holds hdf5_lock().
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "data/logmel.h"

namespace engine::data {

// The one lock around the HDF5 library. Every HDF5 call anywhere in the engine must hold it (it is recursive,
// so a holder may call functions that take it again). The first call also turns off HDF5's printed error
// stacks: failures become our UserError / InternalError instead.
std::unique_lock<std::recursive_mutex> hdf5_lock();
// Whether an HDF5 datatype (an hid_t) is 1-8 bytes wide: the 4-byte size field of a damaged datatype message can
// claim gigabytes, and libhdf5 allocates a conversion buffer of that size before it reads a byte.
bool hdf5_plain_number_size(int64_t type);

inline constexpr int kSpectrogramFormatVersion = 1;

// Appends clips to "<path>.partial"; finish() marks the file complete and renames it to <path>, so a crash
// never leaves a file that looks complete. resume=true continues an existing .partial (same front end,
// classes and dtype, else UserError); resume=false starts a new one. A clip counts as written only once all
// of its row (log-mel, labels, name, source) is in the file.
class SpectrogramWriter {
 public:
  SpectrogramWriter(const std::string& path, const FrontEndConfig& fe, int num_classes, bool float32, bool resume,
                    const std::string& source_description);
  ~SpectrogramWriter();  // without finish(): closes the .partial, which a later run can resume
  SpectrogramWriter(const SpectrogramWriter&) = delete;
  SpectrogramWriter& operator=(const SpectrogramWriter&) = delete;

  bool contains(const std::string& clip_name) const;  // already written (resume skips it); thread-safe
  // logmel (M, T) in dB, finite; labels (K) multi-hot 0/1; source e.g. the original audio file.
  // Thread-safe; rows are stored in call order. UserError on a duplicate name or non-finite values.
  void append(const std::string& clip_name, const float* logmel, const uint8_t* labels, const std::string& source);
  void finish();
  int64_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a complete spectrogram file. Refuses (UserError naming the file) a missing file, a .partial or
// incomplete file, a non-HDF5 file, another format version, or inconsistent datasets. read() is thread-safe.
class SpectrogramReader {
 public:
  explicit SpectrogramReader(const std::string& path);
  ~SpectrogramReader();
  SpectrogramReader(const SpectrogramReader&) = delete;
  SpectrogramReader& operator=(const SpectrogramReader&) = delete;

  int64_t size() const;
  const FrontEndConfig& front_end() const;
  int num_classes() const;
  bool float32() const;  // the log-mel dataset's type (else float16)
  const std::string& path() const;
  std::string source_description() const;
  std::string name(int64_t i) const;
  std::string source(int64_t i) const;
  // logmel (M, T) dB as float; labels (K). UserError naming file, clip index and name on NaN/inf or a label
  // other than 0/1; with `problem`, that message goes there instead and the values are returned as stored.
  void read(int64_t i, float* logmel, uint8_t* labels, std::string* problem = nullptr) const;
  void require_front_end(const FrontEndConfig& expected) const;  // UserError naming both configurations

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace engine::data
