// Log-mel front end: STFT (FFTW, double) -> power -> sparse HTK mel filter bank -> dB; see logmel.h.
#include "data/logmel.h"

#include <fftw3.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <mutex>
#include <sstream>

#include "engine/check.h"

namespace engine::data {

namespace {

// FFTW's planner (plan creation and destruction) is not thread-safe; fftw_execute_* with new arrays is.
std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

// Shortest text that reads back as the same double.
std::string shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// FFTW buffers, one pair per compute call (each thread its own).
struct FftwBuffers {
  double* in;            // (n_fft) windowed frame
  fftw_complex* out;     // (F) spectrum
  explicit FftwBuffers(int n_fft)
      : in(fftw_alloc_real(n_fft)), out(fftw_alloc_complex(n_fft / 2 + 1)) {
    ENGINE_CHECK(in && out, "fftw_alloc failed");
  }
  ~FftwBuffers() {
    fftw_free(in);
    fftw_free(out);
  }
  FftwBuffers(const FftwBuffers&) = delete;
  FftwBuffers& operator=(const FftwBuffers&) = delete;
};

}  // namespace

std::string FrontEndConfig::describe() const {
  std::ostringstream os;
  os << "sample_rate=" << sample_rate << " clip_samples=" << clip_samples << " n_fft=" << n_fft
     << " hop=" << hop << " n_mels=" << n_mels << " f_min=" << shortest(f_min) << " f_max=" << shortest(f_max)
     << " amin=" << shortest(amin);
  return os.str();
}

bool FrontEndConfig::operator==(const FrontEndConfig& o) const {
  return sample_rate == o.sample_rate && clip_samples == o.clip_samples && n_fft == o.n_fft && hop == o.hop &&
         n_mels == o.n_mels && f_min == o.f_min && f_max == o.f_max && amin == o.amin;
}

double hz_to_mel_htk(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz_htk(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

std::vector<double> mel_corner_frequencies(int n_mels, double f_min, double f_max) {
  const int M = n_mels;
  const double m_min = hz_to_mel_htk(f_min), m_max = hz_to_mel_htk(f_max);
  std::vector<double> f_pts(M + 2);
  for (int i = 0; i < M + 2; ++i) f_pts[i] = mel_to_hz_htk(m_min + (m_max - m_min) * i / (M + 1));
  return f_pts;
}

std::vector<double> mel_filter_bank(int sample_rate, int n_fft, int n_mels, double f_min, double f_max) {
  const int F = n_fft / 2 + 1, M = n_mels;
  // all_freqs = linspace(0, sample_rate // 2, F); a filter's weight is min(rising, falling) slope, floored at 0.
  const double nyquist = static_cast<double>(sample_rate / 2);
  const std::vector<double> f_pts = mel_corner_frequencies(M, f_min, f_max);  // (M + 2)
  std::vector<double> fb(size_t(F) * M);                                      // (F, M)
  for (int k = 0; k < F; ++k) {
    const double f = nyquist * k / (F - 1);
    for (int m = 0; m < M; ++m) {
      const double rising = (f - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
      const double falling = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
      fb[size_t(k) * M + m] = std::max(0.0, std::min(rising, falling));
    }
  }
  return fb;
}

struct LogMel::Plan {
  fftw_plan r2c = nullptr;  // (n_fft) real -> (F) complex, FFTW_ESTIMATE: deterministic, no timing runs
};

LogMel::LogMel(const FrontEndConfig& fe) : fe_(fe), plan_(std::make_unique<Plan>()) {
  const std::string cfg = " (front end: " + fe.describe() + ")";
  USER_CHECK(fe.sample_rate > 0, "sample_rate must be positive", cfg);
  USER_CHECK(fe.n_fft >= 2, "n_fft must be at least 2", cfg);
  USER_CHECK(fe.hop >= 1, "hop must be at least 1", cfg);
  // center=True reflect padding needs more samples than the pad (torch.nn.functional.pad's rule).
  USER_CHECK(fe.clip_samples > fe.n_fft / 2, "clip_samples must exceed n_fft/2 for reflect padding", cfg);
  USER_CHECK(fe.n_mels >= 1, "n_mels must be at least 1", cfg);
  USER_CHECK(fe.f_min >= 0 && fe.f_min < fe.f_max && fe.f_max <= fe.sample_rate / 2.0,
             "need 0 <= f_min < f_max <= sample_rate/2", cfg);
  USER_CHECK(fe.amin > 0, "amin must be positive", cfg);

  const int N = fe.n_fft, F = fe.freq_bins(), M = fe.n_mels;
  // torch.hann_window(N) (periodic): 0.5 - 0.5 cos(2 pi n / N).
  window_.resize(N);
  for (int n = 0; n < N; ++n) window_[n] = 0.5 - 0.5 * std::cos(2.0 * M_PI * n / N);

  // Non-zero span of each triangular filter (a contiguous run of bins).
  const std::vector<double> fb = mel_filter_bank(fe.sample_rate, N, M, fe.f_min, fe.f_max);  // (F, M)
  fb_start_.assign(M, 0);
  fb_count_.assign(M, 0);
  fb_offset_.assign(M, 0);
  for (int m = 0; m < M; ++m) {
    int lo = -1, hi = -1;
    for (int k = 0; k < F; ++k)
      if (fb[size_t(k) * M + m] > 0) {
        if (lo < 0) lo = k;
        hi = k + 1;
      }
    fb_offset_[m] = fb_weight_.size();
    if (lo < 0) continue;  // an empty filter (too many mels for n_fft): its mel power is 0, as in torchaudio
    fb_start_[m] = lo;
    fb_count_[m] = hi - lo;
    for (int k = lo; k < hi; ++k) fb_weight_.push_back(fb[size_t(k) * M + m]);
  }

  FftwBuffers b(N);
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  plan_->r2c = fftw_plan_dft_r2c_1d(N, b.in, b.out, FFTW_ESTIMATE);
  ENGINE_CHECK(plan_->r2c, "fftw_plan_dft_r2c_1d(", N, ") failed");
}

LogMel::~LogMel() {
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  fftw_destroy_plan(plan_->r2c);
}

namespace {

// One STFT frame's power: frame t of the reflect-padded wave, windowed, transformed.
// wave (S), window (N) -> power (F).
void frame_power(fftw_plan plan, const float* wave, int S, const std::vector<double>& window, int hop, int t,
                 FftwBuffers& b, double* power) {
  const int N = static_cast<int>(window.size()), F = N / 2 + 1;
  const long start = static_cast<long>(t) * hop - N / 2;  // first sample in unpadded coordinates
  if (start >= 0 && start + N <= S) {
    for (int i = 0; i < N; ++i) b.in[i] = window[i] * wave[start + i];
  } else {
    for (int i = 0; i < N; ++i) {
      long j = start + i;
      if (j < 0) j = -j;                 // reflect about x[0] (torch's "reflect": the edge is not repeated)
      if (j >= S) j = 2L * (S - 1) - j;  // reflect about x[S-1]
      b.in[i] = window[i] * wave[j];
    }
  }
  fftw_execute_dft_r2c(plan, b.in, b.out);
  for (int k = 0; k < F; ++k) power[k] = b.out[k][0] * b.out[k][0] + b.out[k][1] * b.out[k][1];
}

// power (F) of frame t -> out[m * T + t] for every mel m, in dB; each filter's non-zero run only.
void mel_frame_db(const double* power, const std::vector<int>& start, const std::vector<int>& count,
                  const std::vector<size_t>& offset, const std::vector<double>& weight, double amin, int T, int t,
                  float* out) {
  const int M = static_cast<int>(start.size());
  for (int m = 0; m < M; ++m) {
    const double* w = weight.data() + offset[m];
    const double* p = power + start[m];
    double s = 0;
    for (int i = 0; i < count[m]; ++i) s += w[i] * p[i];
    out[size_t(m) * T + t] = static_cast<float>(10.0 * std::log10(std::max(s, amin)));
  }
}

}  // namespace

void LogMel::compute(const float* wave, float* out) const {
  const int T = fe_.frames(), F = fe_.freq_bins();
  FftwBuffers b(fe_.n_fft);
  std::vector<double> power(F);  // (F) one frame
  for (int t = 0; t < T; ++t) {
    frame_power(plan_->r2c, wave, fe_.clip_samples, window_, fe_.hop, t, b, power.data());
    mel_frame_db(power.data(), fb_start_, fb_count_, fb_offset_, fb_weight_, fe_.amin, T, t, out);
  }
}

void LogMel::power_spectrogram(const float* wave, float* power) const {
  const int T = fe_.frames(), F = fe_.freq_bins();
  FftwBuffers b(fe_.n_fft);
  std::vector<double> p(F);  // (F) one frame
  for (int t = 0; t < T; ++t) {
    frame_power(plan_->r2c, wave, fe_.clip_samples, window_, fe_.hop, t, b, p.data());
    for (int k = 0; k < F; ++k) power[size_t(k) * T + t] = static_cast<float>(p[k]);
  }
}

void LogMel::mel_db(const float* power, float* out) const {
  const int T = fe_.frames(), F = fe_.freq_bins();
  std::vector<double> p(F);  // (F) one frame
  for (int t = 0; t < T; ++t) {
    for (int k = 0; k < F; ++k) p[k] = power[size_t(k) * T + t];
    mel_frame_db(p.data(), fb_start_, fb_count_, fb_offset_, fb_weight_, fe_.amin, T, t, out);
  }
}

}  // namespace engine::data
