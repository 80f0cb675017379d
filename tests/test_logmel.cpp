// Log-mel front end against torchaudio 2.11 (tools/gen_logmel_golden.py writes tests/data/logmel/):
//   sig32k:    a 10 s 32 kHz FLAC clip; goldens are torchaudio's chain run in float64 (db64: the exact
//              formula) and in float32 (db: what DCLS-Audio feeds its models), at a subset of frames that
//              includes both ends (reflect padding) and every segment boundary.
//   stereo44k: a 1 s 44.1 kHz stereo FLAC; golden = torchaudio mixdown + resample to 32 kHz + pad + log-mel.
// Error measure: max |ours - golden| in dB over every stored (mel, frame) value, the -100 dB floor included:
// 10 log10(max(p, 1e-10)) is continuous in p, so values at or near the floor need no special case.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "data/audio_io.h"
#include "data/logmel.h"
#include "engine/check.h"
#include "tests/harness/golden_file.h"

using namespace engine;
using namespace engine::data;

namespace {

const std::string kDir = std::string(ENGINE_TEST_DATA_DIR) + "/logmel/";

test::GoldenFile golden(const std::string& name) { return test::GoldenFile(kDir + name); }

// ours (M, T) at the golden's frames vs golden (M, S): max |difference| in dB.
double max_db_error(const std::vector<float>& ours, int T, const std::vector<int64_t>& frames,
                    const std::vector<float>& golden, int M) {
  const size_t S = frames.size();
  double e = 0;
  for (int m = 0; m < M; ++m)
    for (size_t s = 0; s < S; ++s)
      e = std::max(e, std::fabs(double(ours[size_t(m) * T + frames[s]]) - golden[m * S + s]));
  return e;
}

std::vector<float> logmel_of(const std::vector<float>& wave) {
  static const LogMel lm{FrontEndConfig{}};
  std::vector<float> out(size_t(128) * 1001);
  lm.compute(wave.data(), out.data());
  return out;
}

}  // namespace

TEST_CASE("logmel: 320000 samples give 128 x 1001 finite values", "[logmel]") {
  FrontEndConfig fe;
  CHECK(fe.frames() == 1001);
  CHECK(fe.freq_bins() == 513);
  std::vector<float> wave(320000);
  for (size_t i = 0; i < wave.size(); ++i) wave[i] = float(0.3 * std::sin(0.05 * double(i)));
  std::vector<float> out = logmel_of(wave);
  REQUIRE(out.size() == 128u * 1001u);
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v) && v >= -100.f; }));
}

namespace {

// Max |ours - golden| over the (513, 128) filter bank stored as each column's non-zero run (golden
// prefix "fb_" or "fb64_"); `pattern_mismatch` counts entries non-zero in one and zero in the other.
double fb_error(const test::GoldenFile& g, const std::string& prefix, const std::vector<double>& fb,
                int& pattern_mismatch) {
  const auto start = g.vec<int64_t>(prefix + "start"), count = g.vec<int64_t>(prefix + "count");
  const Tensor& vt = g.at(prefix + "values");
  const std::vector<double> values = vt.to(DType::f64).to_vector<double>();
  REQUIRE(start.size() == 128);
  size_t off = 0;
  double err = 0;
  pattern_mismatch = 0;
  for (int m = 0; m < 128; ++m) {
    for (int k = 0; k < 513; ++k) {
      const bool inside = k >= start[m] && k < start[m] + count[m];
      const double ref = inside ? values[off + size_t(k - start[m])] : 0.0;
      const double got = fb[size_t(k) * 128 + m];
      err = std::max(err, std::fabs(got - ref));
      pattern_mismatch += (got > 0) != inside;
    }
    off += size_t(count[m]);
  }
  REQUIRE(off == values.size());
  return err;
}

}  // namespace

TEST_CASE("logmel: filter bank equals torchaudio melscale_fbanks (513 x 128, HTK, norm None)", "[logmel]") {
  const test::GoldenFile g = golden("sig32k.safetensors");
  const FrontEndConfig fe;
  const std::vector<double> fb = mel_filter_bank(fe.sample_rate, fe.n_fft, fe.n_mels, fe.f_min, fe.f_max);  // (F, M)
  REQUIRE(fb.size() == 513u * 128u);
  // The formula, computed by torchaudio in float64: same non-zero pattern, same values.
  int mismatch64 = 0;
  const double err64 = fb_error(g, "fb64_", fb, mismatch64);
  CAPTURE(err64);
  CHECK(mismatch64 == 0);
  CHECK(err64 <= 1e-12);
  // What DCLS-Audio uses: torchaudio's float32 filter bank, whose mel points carry float32 rounding
  // (~1e-5 in the weights; bin 448 = exactly 14 kHz gets 8.7e-6 instead of 0).
  int mismatch32 = 0;
  const double err32 = fb_error(g, "fb_", fb, mismatch32);
  CAPTURE(err32, mismatch32);
  CHECK(mismatch32 <= 1);
  CHECK(err32 <= 2e-5);
}

TEST_CASE("logmel: 32 kHz clip within 1e-3 dB of torchaudio (float64 chain)", "[logmel]") {
  const test::GoldenFile g = golden("sig32k.safetensors");
  const auto frames = g.vec<int64_t>("frames");
  const auto db64 = g.vec<float>("db64"), db32 = g.vec<float>("db");
  REQUIRE(db64.size() == 128 * frames.size());
  AudioClip clip = read_audio(kDir + "sig32k.flac");
  REQUIRE(clip.sample_rate == 32000);
  REQUIRE(clip.samples.size() == 320000);
  const std::vector<float> ours = logmel_of(clip.samples);

  const double err64 = max_db_error(ours, 1001, frames, db64, 128);
  CAPTURE(err64);
  CHECK(err64 <= 1e-3);

  // Against torchaudio's float32 result (the authors' numbers), whose own rounding error reaches ~0.1 dB
  // in bins 100 dB below a frame's peak: per value, |ours - f32| <= |f64 - f32| + 1e-3 dB.
  const size_t S = frames.size();
  double err32 = 0, worst_excess = -1;
  for (int m = 0; m < 128; ++m)
    for (size_t s = 0; s < S; ++s) {
      const double o = ours[size_t(m) * 1001 + frames[s]], a = db32[m * S + s], b = db64[m * S + s];
      err32 = std::max(err32, std::fabs(o - a));
      worst_excess = std::max(worst_excess, std::fabs(o - a) - std::fabs(b - a));
    }
  CAPTURE(err32, worst_excess);
  CHECK(worst_excess <= 1e-3);
}

TEST_CASE("logmel: 44.1 kHz stereo file after mixdown + resampling is close to torchaudio", "[logmel]") {
  const test::GoldenFile g = golden("stereo44k.safetensors");
  const auto frames = g.vec<int64_t>("frames");
  const auto db = g.vec<float>("db");
  const size_t resampled = std::stoul(g.meta("resampled_length"));
  AudioClip clip = read_audio(kDir + "stereo44k.flac");
  REQUIRE(clip.sample_rate == 44100);
  REQUIRE(clip.channels == 2);
  CHECK(resample(clip.samples, 44100, 32000).size() == resampled);

  const std::vector<float> ours = logmel_of(load_clip(kDir + "stereo44k.flac", FrontEndConfig{}));
  // The two resamplers differ (docs/frontend.md): torchaudio's windowed sinc (width 6, rolloff 0.99)
  // droops above ~9 kHz (0.06 dB at 11 kHz, 0.7 dB at 12-14 kHz) and lets content above 16 kHz alias
  // (an 18 kHz tone: -17 dB at 14 kHz, -64 dB at 5.9 kHz); soxr HQ is flat to 14.6 kHz and rejects
  // aliases by > 120 dB. The file has an 18 kHz tone and a chirp to 20 kHz, so quiet bins differ by
  // dBs. Asserted, from measurement (0.104 / 3.81 / 0 dB):
  //   strong values (within 40 dB of their frame's loudest mel bin) in mel bins 0..117 (below 11 kHz)
  //   of frames 0..97 (before the content's end at frame 100, where the filters' tails differ): 0.15 dB;
  //   every value of mel bins 0..117: 4.5 dB; the zero padding after the content: -100 dB in both.
  const size_t S = frames.size();
  double err_strong = 0, err_all = 0, err_pad = 0;
  for (size_t s = 0; s < S; ++s) {
    double peak = -1e9;
    for (int m = 0; m < 128; ++m) peak = std::max(peak, double(db[m * S + s]));
    for (int m = 0; m < 128; ++m) {
      const double ref = db[m * S + s], e = std::fabs(double(ours[size_t(m) * 1001 + frames[s]]) - ref);
      if (frames[s] >= 103) err_pad = std::max(err_pad, e + std::fabs(ref + 100.0));
      if (m > 117) continue;
      err_all = std::max(err_all, e);
      if (frames[s] <= 97 && ref >= peak - 40.0) err_strong = std::max(err_strong, e);
    }
  }
  CAPTURE(err_strong, err_all, err_pad);
  CHECK(err_strong <= 0.15);
  CHECK(err_all <= 4.5);
  CHECK(err_pad == 0);
}

TEST_CASE("logmel: power_spectrogram + mel_db equal compute", "[logmel]") {
  AudioClip clip = read_audio(kDir + "sig32k.flac");
  LogMel lm{FrontEndConfig{}};
  std::vector<float> power(size_t(513) * 1001), split(size_t(128) * 1001), whole(size_t(128) * 1001);
  lm.power_spectrogram(clip.samples.data(), power.data());
  lm.mel_db(power.data(), split.data());
  lm.compute(clip.samples.data(), whole.data());
  double e = 0;
  for (size_t i = 0; i < whole.size(); ++i) e = std::max(e, std::fabs(double(split[i]) - whole[i]));
  CAPTURE(e);
  CHECK(e <= 1e-5);  // float rounding of the stored power: at most one float ulp of |dB| <= 100 (7.6e-6)
  // Bin 0 of the first frame is the squared sum of the windowed, reflect-padded frame.
  double dc = 0;
  for (int i = 0; i < 1024; ++i) {
    const int j = std::abs(i - 512);
    dc += (0.5 - 0.5 * std::cos(2 * M_PI * i / 1024)) * clip.samples[j];
  }
  CHECK(power[0] == Approx(dc * dc).epsilon(1e-5));
}

TEST_CASE("logmel: concurrent compute on one instance gives the sequential results", "[logmel]") {
  LogMel lm{FrontEndConfig{}};
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> waves(kThreads, std::vector<float>(320000)), seq(kThreads), par(kThreads);
  for (int w = 0; w < kThreads; ++w) {
    for (size_t i = 0; i < waves[w].size(); ++i) waves[w][i] = float(0.2 * std::sin((0.01 + 0.02 * w) * double(i)));
    seq[w].resize(size_t(128) * 1001);
    par[w].resize(size_t(128) * 1001);
    lm.compute(waves[w].data(), seq[w].data());
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w)
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 3; ++rep) lm.compute(waves[w].data(), par[w].data());
    });
  for (auto& t : threads) t.join();
  for (int w = 0; w < kThreads; ++w) CHECK(par[w] == seq[w]);
}

TEST_CASE("logmel: bad front-end configurations are user errors naming the field", "[logmel]") {
  auto expect_error = [](FrontEndConfig fe, const std::string& word) {
    INFO(fe.describe());
    try {
      LogMel lm(fe);
      FAIL("no error");
    } catch (const UserError& e) {
      CHECK(std::string(e.what()).find(word) != std::string::npos);
    }
  };
  FrontEndConfig fe;
  fe.f_max = 17000;
  expect_error(fe, "f_max");
  fe = FrontEndConfig{};
  fe.clip_samples = 400;
  expect_error(fe, "clip_samples");
  fe = FrontEndConfig{};
  fe.hop = 0;
  expect_error(fe, "hop");
  fe = FrontEndConfig{};
  fe.amin = 0;
  expect_error(fe, "amin");

  FrontEndConfig a, b;
  CHECK(a == b);
  b.f_min = 0;
  CHECK(a != b);
  CHECK(a.describe() ==
        "sample_rate=32000 clip_samples=320000 n_fft=1024 hop=320 n_mels=128 f_min=50 f_max=14000 amin=1e-10");
}
