// Audio files -> the front end's 32 kHz mono waveform (recipe.md D.2 step 1 and what precedes it).
//
// Reading: libsndfile (WAV, FLAC, Ogg/Vorbis, Opus, AIFF, MP3, ... at any sample rate). Integer formats
// are scaled by 1/2^(bits-1), so 16-bit PCM gives int16 / 32768 exactly, the scaling DCLS-Audio applies to
// its PANNs HDF5 waveforms (waveform / 2**15). Float files are passed through as stored (not clipped).
// Channels are mixed to mono by averaging (torchaudio users' `waveform.mean(0)`, librosa's to_mono).
// A WAV whose data chunk is cut short (interrupted download or copy) is decoded as far as it goes, as
// libsndfile, soundfile and torchaudio do; the header's frame count is never trusted for allocation.
//
// Resampling: libsoxr, SOXR_HQ (20-bit, linear phase, passband to 91.3% of the lower Nyquist rate), what
// librosa uses by default ("soxr_hq") and so what PANNs-style packing scripts produce today.
#pragma once
#include <string>
#include <vector>

#include "data/logmel.h"

namespace engine::data {

struct AudioClip {
  std::vector<float> samples;  // (S) mono mix of all channels
  int sample_rate;             // of the file
  int channels;                // of the file (before the mix)
};

// UserError "<path>: <reason>" for a missing, empty (0 bytes or 0 frames), unreadable or corrupt file and
// for NaN/inf samples.
AudioClip read_audio(const std::string& path);

// x (S) at from_rate -> (ceil(S * to_rate / from_rate)) at to_rate, torchaudio's output length; a copy
// when the rates are equal. Thread-safe.
std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate);

// Right zero-pad or truncate to n samples (PadOrTruncate).
void pad_or_truncate(std::vector<float>& x, size_t n);

// read_audio + resample to fe.sample_rate (when needed) + pad_or_truncate(fe.clip_samples).
std::vector<float> load_clip(const std::string& path, const FrontEndConfig& fe);

}  // namespace engine::data
