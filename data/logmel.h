// The paper's log-mel front end (recipe.md D.2 steps 4, 6, 7; DCLS-Audio datasets.py), torchaudio's
// Spectrogram -> MelScale -> AmplitudeToDB computed without PyTorch:
//   STFT: n_fft 1024, hop 320, periodic Hann window of length n_fft, center=True (reflect padding of
//         n_fft/2 samples on both sides), onesided (F = n_fft/2 + 1 = 513 bins), power |X|^2, not normalised;
//   mel:  HTK mel scale m = 2595 log10(1 + f/700), 128 triangular filters between f_min 50 Hz and f_max
//         14000 Hz, norm None (torchaudio.functional.melscale_fbanks), mel = fb^T @ power;
//   dB:   10 log10(max(mel, amin)), amin 1e-10, reference 1, no top_db clipping.
// Everything is computed in double (FFTW) and rounded to float at the end: torchaudio's own float32 result
// is off from exact arithmetic by up to ~0.1 dB in bins far below a frame's peak (docs/frontend.md).
//
// Dimension legend: T = frames = 1 + clip_samples / hop (1001), F = frequency bins (513), M = mel bins (128).
// Layouts are row-major: wave (clip_samples), power (F, T), log-mel (M, T), as PyTorch's (1, F, T) / (1, M, T).
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace engine::data {

struct FrontEndConfig {
  int sample_rate = 32000;
  int clip_samples = 320000;  // recipe.md D.2 step 1: PadOrTruncate(10 s)
  int n_fft = 1024;
  int hop = 320;
  int n_mels = 128;
  double f_min = 50, f_max = 14000;
  double amin = 1e-10;

  int frames() const { return 1 + clip_samples / hop; }
  int freq_bins() const { return n_fft / 2 + 1; }
  // One line naming every field, e.g. for error messages and file metadata.
  std::string describe() const;
  bool operator==(const FrontEndConfig& o) const;
  bool operator!=(const FrontEndConfig& o) const { return !(*this == o); }
};

// HTK mel scale (torchaudio mel_scale="htk"): mel = 2595 log10(1 + hz / 700), and its inverse.
double hz_to_mel_htk(double hz);
double mel_to_hz_htk(double mel);

// The M + 2 filter corner frequencies f_pts in Hz, evenly spaced in mel from f_min to f_max: filter m rises
// from f_pts[m] to f_pts[m + 1] (its centre) and falls to f_pts[m + 2].
std::vector<double> mel_corner_frequencies(int n_mels, double f_min, double f_max);

// torchaudio.functional.melscale_fbanks(n_fft/2 + 1, f_min, f_max, n_mels, sample_rate, norm=None, "htk"):
// the triangular filters' weights of the linear bins at linspace(0, sample_rate // 2, F), (F, M) row-major.
std::vector<double> mel_filter_bank(int sample_rate, int n_fft, int n_mels, double f_min, double f_max);

class LogMel {
 public:
  // Validates the configuration (UserError naming the bad field) and plans the FFT once.
  explicit LogMel(const FrontEndConfig& fe);
  ~LogMel();
  LogMel(const LogMel&) = delete;
  LogMel& operator=(const LogMel&) = delete;

  const FrontEndConfig& config() const { return fe_; }

  // All three are thread-safe: they may run concurrently from many threads on one instance.
  // wave (clip_samples) -> out (M, T) dB.
  void compute(const float* wave, float* out) const;
  // The two halves of compute, for callers that edit the linear power spectrogram in between (recipe.md
  // D.2 step 5, RandomErasing before the mel scale): wave -> power (F, T); power (F, T) -> out (M, T) dB.
  void power_spectrogram(const float* wave, float* power) const;
  void mel_db(const float* power, float* out) const;

 private:
  struct Plan;
  FrontEndConfig fe_;
  std::vector<double> window_;      // (n_fft) periodic Hann
  std::vector<int> fb_start_;       // (M) first non-zero bin of each filter
  std::vector<int> fb_count_;       // (M) number of non-zero bins (contiguous)
  std::vector<double> fb_weight_;   // concatenated non-zero weights, filter by filter
  std::vector<size_t> fb_offset_;   // (M) where each filter's weights start in fb_weight_
  std::unique_ptr<Plan> plan_;
};

}  // namespace engine::data
