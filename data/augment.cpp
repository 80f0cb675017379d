// Paper augmentations mapped onto stored dB log-mel, and batch mixup. Rules and approximations:
// docs/augmentations.md. Dimension letters as in augment.h; N linear-frequency bins (n_fft/2 + 1).
#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "data/logmel.h"
#include "engine/check.h"
#include "engine/rng.h"

namespace engine::data {

namespace {

// Stream ids: one independent Philox sequence per augmentation, so turning one step off (or a step taking
// a different branch) never changes another step's draws.
enum : uint32_t { kStreamRoll = 1, kStreamSpeed = 2, kStreamErase = 3, kStreamMixup = 4 };

constexpr double kPi = 3.14159265358979323846;

void validate(const AugmentConfig& cfg) {
  auto prob = [](double p) { return p >= 0 && p <= 1; };
  USER_CHECK(prob(cfg.speed_p) && prob(cfg.erase_p), "augmentation: speed_p and erase_p must lie in [0, 1], got ",
             cfg.speed_p, " and ", cfg.erase_p);
  USER_CHECK(cfg.speed_min > 0 && cfg.speed_min <= cfg.speed_max,
             "augmentation: speed rates need 0 < min <= max, got [", cfg.speed_min, ", ", cfg.speed_max, "]");
  USER_CHECK(cfg.erase_min_area > 0 && cfg.erase_min_area <= cfg.erase_max_area && cfg.erase_max_area <= 1,
             "augmentation: erasing area fractions need 0 < min <= max <= 1, got [", cfg.erase_min_area, ", ",
             cfg.erase_max_area, "]");
  USER_CHECK(cfg.erase_min_aspect > 0 && cfg.erase_min_aspect <= 1,
             "augmentation: erase_min_aspect must lie in (0, 1], got ", cfg.erase_min_aspect);
  USER_CHECK(cfg.erase_attempts >= 1, "augmentation: erase_attempts must be >= 1, got ", cfg.erase_attempts);
  USER_CHECK(cfg.n_fft >= 2 && cfg.sample_rate > 0 && cfg.f_min >= 0 && cfg.f_min < cfg.f_max &&
                 cfg.f_max <= cfg.sample_rate / 2,
             "augmentation: front end needs n_fft >= 2 and 0 <= f_min < f_max <= sample_rate/2, got n_fft ",
             cfg.n_fft, ", sample_rate ", cfg.sample_rate, ", f_min ", cfg.f_min, ", f_max ", cfg.f_max);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Philox stream

PhiloxStream::PhiloxStream(uint64_t seed, uint64_t key, uint32_t stream) : key_(key) {
  // A Philox key of its own per (seed, stream): 0x61756731 tags this module's draws ("aug1").
  const Philox4 w = philox_draw(seed, 0x61756731u, stream);
  seed_ = uint64_t(w.v[0]) | (uint64_t(w.v[1]) << 32);
}

double PhiloxStream::uniform() {
  const Philox4 w = philox_draw(seed_, key_, next_++);
  const uint64_t bits = (uint64_t(w.v[0] >> 5) << 26) | (w.v[1] >> 6);  // 53 bits
  return (double(bits) + 0.5) * (1.0 / 9007199254740992.0);            // midpoints: never 0 or 1
}

int64_t PhiloxStream::randint(int64_t lo, int64_t hi) {
  ENGINE_CHECK(lo <= hi, "randint(", lo, ", ", hi, ")");
  const double n = double(hi - lo) + 1.0;
  return lo + std::min(int64_t(uniform() * n), hi - lo);
}

double PhiloxStream::normal() {
  const double u1 = uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double PhiloxStream::gamma(double alpha) {
  ENGINE_CHECK(alpha > 0, "gamma alpha ", alpha);
  // alpha < 1: Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha) (Marsaglia & Tsang 2000, section 6).
  if (alpha < 1) return gamma(alpha + 1.0) * std::pow(uniform(), 1.0 / alpha);
  const double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = normal();
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;  // squeeze: accepts ~98% without a log
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double PhiloxStream::beta(double a, double b) {
  const double ga = gamma(a), gb = gamma(b);
  return ga / (ga + gb);
}

// ---------------------------------------------------------------------------------------------------------
// Clip augmentations

void roll_frames(float* x, int M, int T, int64_t shift) {
  const int64_t k = ((shift % T) + T) % T;  // torch.roll: a shift of s moves frame t to t + s (mod T)
  for (int m = 0; m < M; ++m) std::rotate(x + int64_t(m) * T, x + int64_t(m) * T + (T - k), x + int64_t(m) * T + T);
}

std::vector<int64_t> speed_frame_index(int T, double rate) {
  // torch.arange(0, T, step): length ceil(T / step) and values start + i * step computed in double, stored
  // as float32; round() is float32 round-half-to-even (nearbyintf in the default rounding mode).
  const double step = 1.0 / rate;
  const int64_t L = int64_t(std::ceil(double(T) / step));
  std::vector<int64_t> idx(L);
  for (int64_t j = 0; j < L; ++j)
    idx[j] = std::min(int64_t(std::nearbyintf(float(double(j) * step))), int64_t(T - 1));
  return idx;
}

void speed_perturb(float* x, int M, int T, const AugmentConfig& cfg, double rate, int64_t pad_left,
                   int64_t crop_start) {
  const std::vector<int64_t> idx = speed_frame_index(T, rate);
  const int64_t L = int64_t(idx.size());
  ENGINE_CHECK(L >= T || (pad_left >= 0 && pad_left <= T - L), "pad_left ", pad_left, " for L ", L);
  ENGINE_CHECK(L <= T || (crop_start >= 0 && crop_start <= L - T), "crop_start ", crop_start, " for L ", L);
  // src[t]: input frame of output frame t, -1 for padded silence.
  std::vector<int64_t> src(T, -1);
  for (int t = 0; t < T; ++t) {
    const int64_t j = L < T ? t - pad_left : (L > T ? t + crop_start : t);
    if (j >= 0 && j < L) src[t] = idx[j];
  }
  // Frequency scaling: resampling by `rate` moves input frequency g to g / rate, so output mel row m (centre
  // f_m) holds the input's content at f_m * rate: fractional input row pos[m] (clamped to the mel range).
  std::vector<int64_t> row0(M);
  std::vector<float> frac(M, 0.f);
  const std::vector<double> fp = mel_corner_frequencies(M, cfg.f_min, cfg.f_max);  // (M + 2)
  const double mel_step = (hz_to_mel_htk(cfg.f_max) - hz_to_mel_htk(cfg.f_min)) / (M + 1);
  for (int m = 0; m < M; ++m) {
    double pos = m;
    if (cfg.speed_scale_freq) {
      const double fc = fp[m + 1];
      // hz_to_mel_htk(fc * rate) - hz_to_mel_htk(fc) in a form that is exactly 0 at rate 1.
      pos = m + 2595.0 * std::log10((700.0 + fc * rate) / (700.0 + fc)) / mel_step;
      pos = std::min(std::max(pos, 0.0), double(M - 1));
    }
    row0[m] = std::min(int64_t(pos), int64_t(M - 1));
    frac[m] = float(pos - double(row0[m]));
  }
  // Interpolate power, not dB: a filter between two neighbours sees about their weighted power sum.
  const std::vector<float> in(x, x + int64_t(M) * T);  // (M, T) dB copy
  std::vector<float> power(in.size());                 // (M, T) 10^(dB/10)
  const float db_to_ln = float(std::log(10.0) / 10.0);
  for (size_t i = 0; i < in.size(); ++i) power[i] = std::exp(in[i] * db_to_ln);
  for (int m = 0; m < M; ++m) {
    const int64_t r0 = row0[m], r1 = std::min(row0[m] + 1, int64_t(M - 1));
    const float w = frac[m];
    float* out = x + int64_t(m) * T;
    for (int t = 0; t < T; ++t) {
      if (src[t] < 0) {
        out[t] = cfg.silence_db;
      } else if (w == 0.f) {
        out[t] = in[r0 * T + src[t]];
      } else {
        const float p = (1.f - w) * power[r0 * T + src[t]] + w * power[r1 * T + src[t]];
        out[t] = std::max(10.f * std::log10(p), cfg.silence_db);
      }
    }
  }
}

void erase_band(float* x, int M, int T, const AugmentConfig& cfg, int64_t top, int64_t h, int64_t left, int64_t w) {
  const int N = cfg.n_fft / 2 + 1;
  ENGINE_CHECK(top >= 0 && h >= 0 && top + h <= N && left >= 0 && w >= 0 && left + w <= T, "erase rectangle (",
               top, ", ", h, ", ", left, ", ", w, ") outside (", N, ", ", T, ")");
  // Mel filter m keeps the fraction kept[m] of its weight (assuming a flat spectrum under the filter, the
  // fraction of its power); fully covered filters become zero power, i.e. silence.
  const std::vector<double> fb = mel_filter_bank(cfg.sample_rate, cfg.n_fft, M, cfg.f_min, cfg.f_max);  // (N, M)
  for (int m = 0; m < M; ++m) {
    double total = 0, kept = 0;
    for (int k = 0; k < N; ++k) {
      const double fw = fb[size_t(k) * M + m];
      total += fw;
      if (k < top || k >= top + h) kept += fw;
    }
    if (kept == total) continue;  // untouched (also an empty filter, total 0)
    const float gain_db = kept > 0 ? float(10.0 * std::log10(kept / total)) : -INFINITY;
    float* row = x + int64_t(m) * T;
    for (int64_t t = left; t < left + w; ++t) row[t] = std::max(row[t] + gain_db, cfg.silence_db);
  }
}

AugmentDraws draw_augment(const AugmentConfig& cfg, int T, uint64_t seed, uint64_t key) {
  validate(cfg);
  USER_CHECK(T >= 1, "augmentation: a clip needs at least one frame, got T = ", T);
  AugmentDraws d;
  if (cfg.roll) {
    PhiloxStream r(seed, key, kStreamRoll);
    d.roll = r.randint(-T, T - 1);  // torch.randint(-T, T): uniform over every circular shift
  }
  PhiloxStream s(seed, key, kStreamSpeed);
  if (s.uniform() <= cfg.speed_p) {  // random.random() <= p
    d.speed = true;
    d.rate = cfg.speed_min + (cfg.speed_max - cfg.speed_min) * s.uniform();
    const int64_t L = int64_t(speed_frame_index(T, d.rate).size());
    if (L < T) d.pad_left = s.randint(0, T - L);         // torch.randint(0, missing + 1)
    if (L > T) d.crop_start = s.randint(0, L - T - 1);   // torch.randint(0, diff): diff itself never drawn
  }
  PhiloxStream e(seed, key, kStreamErase);
  if (e.uniform() <= cfg.erase_p) {  // timm: skip when random.random() > p
    const int64_t N = cfg.n_fft / 2 + 1;
    const double area = double(N) * T;
    const double log_lo = std::log(cfg.erase_min_aspect), log_hi = std::log(1.0 / cfg.erase_min_aspect);
    for (int attempt = 0; attempt < cfg.erase_attempts; ++attempt) {
      const double target = (cfg.erase_min_area + (cfg.erase_max_area - cfg.erase_min_area) * e.uniform()) * area;
      const double aspect = std::exp(log_lo + (log_hi - log_lo) * e.uniform());
      const int64_t h = int64_t(std::nearbyint(std::sqrt(target * aspect)));  // Python round: half to even
      const int64_t w = int64_t(std::nearbyint(std::sqrt(target / aspect)));
      if (w < T && h < N) {
        d.erase = true;
        d.erase_h = h;
        d.erase_w = w;
        d.erase_top = e.randint(0, N - h);
        d.erase_left = e.randint(0, T - w);
        break;
      }
    }
  }
  return d;
}

void apply_augment(float* logmel, int M, int T, const AugmentConfig& cfg, const AugmentDraws& d) {
  if (d.roll != 0) roll_frames(logmel, M, T, d.roll);
  if (d.speed) speed_perturb(logmel, M, T, cfg, d.rate, d.pad_left, d.crop_start);
  if (d.erase) erase_band(logmel, M, T, cfg, d.erase_top, d.erase_h, d.erase_left, d.erase_w);
}

void augment_clip(float* logmel, int M, int T, const AugmentConfig& cfg, uint64_t seed, uint64_t key) {
  USER_CHECK(M >= 1, "augmentation: a clip needs at least one mel bin, got M = ", M);
  apply_augment(logmel, M, T, cfg, draw_augment(cfg, T, seed, key));
}

// ---------------------------------------------------------------------------------------------------------
// Mixup

MixupDraw draw_mixup(int B, const MixupConfig& cfg, uint64_t seed, uint64_t key) {
  USER_CHECK(cfg.alpha > 0, "mixup: alpha must be > 0, got ", cfg.alpha);
  USER_CHECK(B >= 1, "mixup: batch size must be >= 1, got ", B);
  PhiloxStream s(seed, key, kStreamMixup);
  MixupDraw d;
  d.lambda = float(s.beta(cfg.alpha, cfg.alpha));
  d.perm.resize(B);
  for (int i = 0; i < B; ++i) d.perm[i] = i;
  for (int i = B - 1; i > 0; --i) std::swap(d.perm[i], d.perm[s.randint(0, i)]);  // Fisher-Yates
  return d;
}

void apply_mixup(float* x, float* y, int B, int64_t F, int K, const MixupConfig& cfg, const MixupDraw& d) {
  USER_CHECK(cfg.label_smoothing >= 0 && cfg.label_smoothing <= 1, "mixup: label_smoothing must lie in [0, 1], got ",
             cfg.label_smoothing);
  USER_CHECK(K >= 1 && F >= 0, "mixup: need K >= 1 classes and F >= 0 features, got K = ", K, ", F = ", F);
  ENGINE_CHECK(int64_t(d.perm.size()) == B, "mixup permutation of ", d.perm.size(), " for batch ", B);
  // float32 arithmetic in torch's order: samples * l + samples[perm] * (1.0 - l).
  const float lam = d.lambda, rest = 1.0f - d.lambda;
  const std::vector<float> xs(x, x + int64_t(B) * F);  // (B, F) unmixed copy
  for (int i = 0; i < B; ++i) {
    const float* a = xs.data() + int64_t(i) * F;
    const float* b = xs.data() + d.perm[i] * F;
    float* o = x + int64_t(i) * F;
    for (int64_t f = 0; f < F; ++f) o[f] = a[f] * lam + b[f] * rest;
  }
  // (1 - s) * y + s / K, with both factors float32 as torch casts Python scalars to the tensor's dtype.
  const float keep = float(1.0 - cfg.label_smoothing), floor_ = float(cfg.label_smoothing / K);
  std::vector<float> ys(y, y + int64_t(B) * K);  // (B, K) smoothed
  for (float& v : ys) v = keep * v + floor_;
  for (int i = 0; i < B; ++i) {
    const float* a = ys.data() + int64_t(i) * K;
    const float* b = ys.data() + d.perm[i] * K;
    float* o = y + int64_t(i) * K;
    for (int k = 0; k < K; ++k) o[k] = a[k] * lam + b[k] * rest;
  }
}

double mixup_batch(float* x, float* y, int B, int64_t F, int K, const MixupConfig& cfg, uint64_t seed, uint64_t key) {
  const MixupDraw d = draw_mixup(B, cfg, seed, key);
  apply_mixup(x, y, B, F, K, cfg, d);
  return d.lambda;
}

}  // namespace engine::data
