// Preprocessing: audio clips (files or a PANNs waveform HDF5) -> log-mel spectrogram HDF5 (SpectrogramWriter).
// A pool of threads decodes, resamples and computes log-mels; the rows are written in job order, so the output
// does not depend on the thread count and a resumed run ends with the same file as an uninterrupted one.
// One bad clip never stops the run: it is counted and listed in "<output>.failed.tsv" (clip, path, reason).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/audioset_csv.h"
#include "data/logmel.h"

namespace engine::data {

class PannsWaveformFile;

// One clip to preprocess.
struct PrepClip {
  std::string name;             // its name in the output (unique)
  std::string path;             // audio file; for an HDF5 source, the HDF5 file (for the report)
  int64_t h5_index = -1;        // row in the PANNs HDF5 source, or -1 for an audio file
  std::vector<uint8_t> labels;  // (K) multi-hot; for an HDF5 source, filled from its target row
  std::string missing;          // non-empty: known before the run to have no audio (the reason)
};

// Segments -> clips named by YTID. The audio of YTID is looked up in audio_dir and its subfolders as
// Y<YTID>.<ext> (PANNs' naming) or <YTID>.<ext>, ext one of wav, flac, ogg, opus, mp3, aiff, aif (a file
// named with the Y wins, then the extensions in that order). Segments without a file are marked missing.
std::vector<PrepClip> clips_from_segments(const SegmentList& segments, const std::string& audio_dir, int num_classes);
// Manifest entries -> clips; relative paths are resolved against base_dir.
std::vector<PrepClip> clips_from_manifest(const std::vector<ManifestEntry>& entries, const std::string& base_dir,
                                          int num_classes);
// Every row of a PANNs waveform file, named by its audio_name.
std::vector<PrepClip> clips_from_panns(const PannsWaveformFile& h5);

struct PrepConfig {
  std::string output;              // the spectrogram HDF5 to write
  FrontEndConfig fe;
  int num_classes = 527;
  int threads = 0;                 // 0: std::thread::hardware_concurrency()
  bool float32 = false;            // log-mels as float32 (else float16)
  bool force = false;              // rebuild an existing output (else an existing one is up to date)
  bool strict = false;             // any failed clip leaves the output unfinished (<output>.partial)
  bool progress = true;            // progress line on stderr
  std::string source_description;  // stored in the output, e.g. the command line
};

struct PrepFailure {
  std::string clip, path, reason;
};

struct PrepResult {
  bool up_to_date = false;   // output already existed; nothing done
  bool finished = false;     // output complete (renamed from .partial)
  int64_t total = 0;         // clips in the job list
  int64_t written = 0;       // written by this run
  int64_t padded = 0;        // of those, recordings shorter than the clip length (zero-padded)
  int64_t skipped = 0;       // already in the .partial from an earlier run
  int64_t failed = 0;        // missing, unreadable, empty, truncated or corrupt (listed in failures and the report)
  int threads = 0;
  double seconds = 0;        // wall time of the processing
  std::vector<PrepFailure> failures;
  std::string report_path;   // "<output>.failed.tsv" when failed > 0
  std::string summary() const;  // one paragraph for the user
};

// Runs the job list. h5 is the PANNs source when the clips have h5_index >= 0. UserError for problems that
// concern the whole run (output not writable, a .partial from another front end, not a single clip readable:
// then no output is left, only the report); per-clip problems are failures in the result, never exceptions.
PrepResult run_prep(const std::vector<PrepClip>& clips, const PannsWaveformFile* h5, const PrepConfig& cfg);

}  // namespace engine::data
