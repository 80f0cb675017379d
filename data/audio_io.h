// Audio files -> the front end's 32 kHz mono waveform (recipe.md D.2 step 1 and what precedes it).
//
// Reading: libsndfile (WAV, FLAC, Ogg/Vorbis, Opus, AIFF, MP3, ... at any sample rate). Integer formats
// are scaled by 1/2^(bits-1), so 16-bit PCM gives int16 / 32768 exactly, the scaling DCLS-Audio applies to
// its PANNs HDF5 waveforms (waveform / 2**15). Float files are passed through as stored (not clipped).
// Channels are mixed to mono by averaging (torchaudio users' `waveform.mean(0)`, librosa's to_mono).
//
// A truncated file is an error, not a short clip: a WAV/AIFF whose data chunk is shorter than its header
// declares (libsndfile, soundfile and torchaudio would decode the part that is there, and a cut-off download
// would become a labelled, padded, almost silent clip), or a FLAC stream that ends before the length in its
// STREAMINFO. The message gives both lengths. The header's frame count is never trusted for allocation.
//
// Resampling: libsoxr, SOXR_HQ (20-bit, linear phase, passband to 91.3% of the lower Nyquist rate), what
// librosa uses by default ("soxr_hq") and so what PANNs-style packing scripts produce today.
//
// Streaming: AudioReader decodes a file chunk by chunk (and resamples as it goes), so hours-long recordings
// take bounded memory; read_audio and resample are the same code run to the end, so the whole-file and the
// streamed results are identical sample for sample.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/logmel.h"

namespace engine::data {

struct AudioClip {
  std::vector<float> samples;  // (S) mono mix of all channels
  int sample_rate;             // of the file
  int channels;                // of the file (before the mix)
};

// Streamed resampling of one mono signal: push() any number of chunks, then finish(). The concatenated output
// equals resample() of the concatenated input (torchaudio's length, ceil(S * to / from)).
class Resampler {
 public:
  Resampler(int from_rate, int to_rate);  // UserError for a non-positive rate
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;
  // Appends the output that n more input samples make available to `out`.
  void push(const float* x, size_t n, std::vector<float>& out);
  // Appends the rest of the output; the resampler is spent afterwards.
  void finish(std::vector<float>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A file decoded in chunks to its mono mix, optionally resampled (out_rate 0: the file's rate). The errors of
// read_audio, raised by the constructor (open, header, a WAV/AIFF data chunk cut short) or by read() (decode
// error, NaN/inf sample, a FLAC stream shorter than its header).
class AudioReader {
 public:
  AudioReader(const std::string& path, int out_rate = 0);
  ~AudioReader();
  AudioReader(const AudioReader&) = delete;
  AudioReader& operator=(const AudioReader&) = delete;

  int sample_rate() const;  // of the file
  int channels() const;     // of the file
  int out_rate() const;     // of what read() returns
  // Appends the next samples (about 16k frames' worth) to `out`; false when the file is exhausted (and the
  // resampler flushed), with nothing appended. UserError on a decode error mid-file or a NaN/inf sample.
  bool read(std::vector<float>& out);
  int64_t frames_decoded() const;  // at the file's rate, so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// UserError "<path>: <reason>" for a missing, empty (0 bytes or 0 frames), unreadable or corrupt file and
// for NaN/inf samples.
AudioClip read_audio(const std::string& path);

// x (S) at from_rate -> (ceil(S * to_rate / from_rate)) at to_rate, torchaudio's output length; a copy
// when the rates are equal. Thread-safe.
std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate);

// Right zero-pad or truncate to n samples (PadOrTruncate).
void pad_or_truncate(std::vector<float>& x, size_t n);

// read_audio + resample to fe.sample_rate (when needed) + pad_or_truncate(fe.clip_samples). `seconds`, when
// given, receives the recording's length before padding or cutting.
std::vector<float> load_clip(const std::string& path, const FrontEndConfig& fe, double* seconds = nullptr);

}  // namespace engine::data
