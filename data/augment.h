// Training augmentations of the paper (recipe.md D.2 steps 2, 3, 5 and D.3), applied to stored log-mel.
// The paper rolls and speed-perturbs the waveform and erases a rectangle of the linear power spectrogram;
// we only have the dB log-mel, so each step is mapped onto it (the approximations and their reasoning:
// docs/augmentations.md). Mixup with label smoothing acts on normalised features exactly as the paper's.
//
// Dimension letters: M mel bins, T frames (a clip is (M, T) row-major dB, as stored), B batch, F features
// per sample, K classes, L frames after speed resampling (before pad / crop).
//
// Randomness: every draw comes from Philox (engine/rng.h) keyed by (seed, key) and a stream id per
// augmentation, so the result depends only on (seed, key), never on threads or on which other steps ran.
#pragma once
#include <cstdint>
#include <vector>

namespace engine::data {

struct AugmentConfig {
  bool roll = true;                                    // random circular time roll (every clip)
  double speed_p = 0.5, speed_min = 0.5, speed_max = 1.5;  // speed perturbation: probability, rate range
  bool speed_scale_freq = true;                        // also scale frequencies by the rate, as resampling does
  double erase_p = 0.25;                               // timm RandomErasing on the (n_fft/2+1, T) spectrogram
  double erase_min_area = 0.02, erase_max_area = 1.0 / 3;  // area fraction range
  double erase_min_aspect = 0.3;                       // log-aspect uniform in [ln min, ln 1/min]
  int erase_attempts = 10;
  // The front end the log-mel came from (its linear bins and mel axis); the loader copies them from the file.
  int sample_rate = 32000, n_fft = 1024;
  double f_min = 50, f_max = 14000;
  float silence_db = -100.f;  // 10*log10(amin): the dB value of zero power
};

// Every random choice for one clip, drawn before anything is applied.
struct AugmentDraws {
  int64_t roll = 0;  // torch.roll shift in frames, in [-T, T-1]: out[t] = in[(t - roll) mod T]
  bool speed = false;
  double rate = 1;          // output length = ceil(T * rate) frames before pad / crop
  int64_t pad_left = 0;     // when L < T: silence frames before the resampled ones, in [0, T - L]
  int64_t crop_start = 0;   // when L > T: first kept frame, in [0, L - T - 1] (torch.randint(0, diff))
  bool erase = false;       // a rectangle was found (probability erase_p, then up to erase_attempts tries)
  int64_t erase_top = 0, erase_h = 0;    // linear-frequency bins [top, top + h) of n_fft/2 + 1
  int64_t erase_left = 0, erase_w = 0;   // frames [left, left + w)
};

AugmentDraws draw_augment(const AugmentConfig& cfg, int T, uint64_t seed, uint64_t key);
// logmel (M, T) dB, in place: roll, then speed perturbation, then erasing (the paper's order).
void apply_augment(float* logmel, int M, int T, const AugmentConfig& cfg, const AugmentDraws& d);
// One clip's log-mel in dB (before normalisation), (M, T), in place: apply_augment(draw_augment(...)).
// The loader passes key = epoch * 2^32 + clip index. Thread-safe (no shared state).
void augment_clip(float* logmel, int M, int T, const AugmentConfig& cfg, uint64_t seed, uint64_t key);

// The steps, for tests and tools.
// x (M, T): out[:, t] = x[:, (t - shift) mod T], like torch.roll.
void roll_frames(float* x, int M, int T, int64_t shift);
// The paper's nearest-neighbour index rule on T frames: arange(0, T, 1/rate).round().clamp(max=T-1), (L,).
std::vector<int64_t> speed_frame_index(int T, double rate);
// x (M, T): resample frames by the rule above (and the mel axis by the rate if cfg.speed_scale_freq), then pad
// with silence (pad_left frames on the left) or crop (from crop_start) back to T frames.
void speed_perturb(float* x, int M, int T, const AugmentConfig& cfg, double rate, int64_t pad_left,
                   int64_t crop_start);
// x (M, T): the mel-domain effect of zeroing linear bins [top, top + h) x frames [left, left + w).
void erase_band(float* x, int M, int T, const AugmentConfig& cfg, int64_t top, int64_t h, int64_t left, int64_t w);

struct MixupConfig {
  double alpha = 0.8;             // lambda ~ Beta(alpha, alpha)
  double label_smoothing = 0.1;   // y -> (1 - s) y + s / K before mixing
};
struct MixupDraw {
  float lambda = 1;            // float32, as torch's Beta sample
  std::vector<int64_t> perm;   // (B,) a permutation of 0..B-1
};
MixupDraw draw_mixup(int B, const MixupConfig& cfg, uint64_t seed, uint64_t key);
// x (B, F), y (B, K), in place: y smoothed, then x[i] = lam x[i] + (1 - lam) x[perm[i]], same for y.
void apply_mixup(float* x, float* y, int B, int64_t F, int K, const MixupConfig& cfg, const MixupDraw& d);
// x (B, F) normalised features, y (B, K) targets in [0,1]; in place; returns lambda. One lambda and one
// permutation per batch (recipe.md D.3), drawn from (seed, key).
double mixup_batch(float* x, float* y, int B, int64_t F, int K, const MixupConfig& cfg, uint64_t seed, uint64_t key);

// Sequential random numbers from Philox: draw i is philox_draw(s, key, i) with s derived from (seed, stream),
// so streams with different ids (or keys) never share a Philox input.
class PhiloxStream {
 public:
  PhiloxStream(uint64_t seed, uint64_t key, uint32_t stream);
  double uniform();                        // in (0, 1), 53 random bits
  int64_t randint(int64_t lo, int64_t hi); // uniform in [lo, hi], both inclusive (Python's random.randint)
  double normal();                         // N(0, 1), Box-Muller
  double gamma(double alpha);              // Gamma(alpha, 1), Marsaglia-Tsang (boosted for alpha < 1)
  double beta(double a, double b);         // G_a / (G_a + G_b)

 private:
  uint64_t seed_, key_, next_ = 0;
};

}  // namespace engine::data
