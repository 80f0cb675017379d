// Audio reading (libsndfile formats, mono mix, scaling), bad files (each written here into a temp dir),
// resampling (libsoxr: length, accuracy on a sine, concurrency) and load_clip's padding.
#include <catch2/catch.hpp>
#include <sndfile.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "data/audio_io.h"
#include "engine/check.h"
#include "tests/harness/audio_file.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::data;
using test::read_bytes;
using test::write_audio;
using test::write_bytes;

namespace {

// Values exactly representable in 16-bit PCM: k / 32768.
std::vector<float> pcm16_ramp(size_t n, int step) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float((int(i * step) % 60000) - 30000) / 32768.f;
  return x;
}

// read_audio must throw a UserError that names the path and contains `reason`.
void expect_user_error(const std::string& path, const std::string& reason) {
  INFO(path);
  try {
    read_audio(path);
    FAIL("no error");
  } catch (const UserError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.rfind(path + ": ", 0) == 0);
    CHECK(msg.find(reason) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("audio_io: 16-bit stereo WAV is read as the exact channel mean of int16 / 32768", "[audio_io]") {
  test::TempDir dir("audio");
  const size_t S = 5000;
  std::vector<float> left = pcm16_ramp(S, 7), right = pcm16_ramp(S, 13), inter(2 * S);
  for (size_t i = 0; i < S; ++i) {
    inter[2 * i] = left[i];
    inter[2 * i + 1] = right[i];
  }
  write_audio(dir.file("st.wav"), inter, 2, 22050, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  AudioClip c = read_audio(dir.file("st.wav"));
  CHECK(c.sample_rate == 22050);
  CHECK(c.channels == 2);
  REQUIRE(c.samples.size() == S);
  size_t bad = 0;
  for (size_t i = 0; i < S; ++i) bad += c.samples[i] != (left[i] + right[i]) / 2;
  CHECK(bad == 0);
}

TEST_CASE("audio_io: FLAC AIFF and Ogg/Vorbis decode to the written signal", "[audio_io]") {
  test::TempDir dir("audio");
  const size_t S = 16000;
  std::vector<float> x = pcm16_ramp(S, 3);  // lossless formats: exact
  std::vector<float> sine(S);                // lossy Vorbis: close
  for (size_t i = 0; i < S; ++i) sine[i] = float(0.5 * std::sin(2 * M_PI * 440.0 * double(i) / 16000.0));
  write_audio(dir.file("a.flac"), x, 1, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_audio(dir.file("a.aiff"), x, 1, 16000, SF_FORMAT_AIFF | SF_FORMAT_PCM_16);
  write_audio(dir.file("a.ogg"), sine, 1, 16000, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  for (const char* name : {"a.flac", "a.aiff"}) {
    INFO(name);
    AudioClip c = read_audio(dir.file(name));
    CHECK(c.sample_rate == 16000);
    CHECK(c.samples == x);
  }
  AudioClip c = read_audio(dir.file("a.ogg"));
  REQUIRE(c.samples.size() == S);
  double err = 0;
  for (size_t i = 1000; i < S - 1000; ++i) err = std::max(err, double(std::fabs(c.samples[i] - sine[i])));
  CAPTURE(err);
  CHECK(err < 0.02);
}

TEST_CASE("audio_io: missing / empty / non-audio / header-truncated / sample-less files are user errors", "[audio_io]") {
  test::TempDir dir("audio");
  expect_user_error(dir.file("missing.wav"), "No such file");
  write_bytes(dir.file("empty.wav"), "");
  expect_user_error(dir.file("empty.wav"), "empty file");
  write_bytes(dir.file("text.wav"), "this is a text file, not RIFF audio\nline two\n");
  expect_user_error(dir.file("text.wav"), "not a readable audio file");

  write_audio(dir.file("full.wav"), pcm16_ramp(1000, 5), 1, 32000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string full = read_bytes(dir.file("full.wav"));
  REQUIRE(full.size() == 44 + 2000);  // canonical 44-byte header
  write_bytes(dir.file("cut_header.wav"), full.substr(0, 30));
  expect_user_error(dir.file("cut_header.wav"), "not a readable audio file");
  write_bytes(dir.file("header_only.wav"), full.substr(0, 44));  // data chunk claims 1000 frames, has none
  expect_user_error(dir.file("header_only.wav"), "truncated: the header declares 0.031 s (1000 frames), the file holds 0.000 s (0 frames)");
  write_audio(dir.file("no_frames.wav"), {}, 1, 32000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);  // a valid, empty WAV
  expect_user_error(dir.file("no_frames.wav"), "no audio samples");
  expect_user_error(dir.path.string(), "not a regular file");
}

TEST_CASE("audio_io: a WAV cut inside its data or a FLAC cut short is an error giving both lengths", "[audio_io]") {
  test::TempDir dir("audio");
  const std::vector<float> x = pcm16_ramp(1000, 5);
  write_audio(dir.file("full.wav"), x, 1, 32000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string full = read_bytes(dir.file("full.wav"));
  write_bytes(dir.file("cut.wav"), full.substr(0, 44 + 2 * 400 + 1));  // 400.5 frames left
  expect_user_error(dir.file("cut.wav"),
                    "truncated: the header declares 0.031 s (1000 frames), the file holds 0.013 s (400 frames)");

  // A data chunk size far beyond the file (4 GiB - 16) must not size an allocation or crash.
  std::string lying = full;
  const uint32_t huge = 0xFFFFFFF0u;
  for (int i = 0; i < 4; ++i) lying[40 + i] = char((huge >> (8 * i)) & 0xFF);
  write_bytes(dir.file("lying.wav"), lying);
  expect_user_error(dir.file("lying.wav"), "truncated: the header declares");

  const std::vector<float> y = pcm16_ramp(64000, 7);
  write_audio(dir.file("full.flac"), y, 1, 32000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  CHECK(read_audio(dir.file("full.flac")).samples == y);
  const std::string flac = read_bytes(dir.file("full.flac"));
  write_bytes(dir.file("cut.flac"), flac.substr(0, flac.size() / 2));
  // (libsndfile's FLAC decoder notices the cut as a lost sync; had it not, the length check would.)
  expect_user_error(dir.file("cut.flac"), "frames of the 64000 the header declares (");
}

TEST_CASE("audio_io: NaN or infinite samples in a float WAV are user errors", "[audio_io]") {
  test::TempDir dir("audio");
  std::vector<float> x(100, 0.25f);
  x[37] = std::numeric_limits<float>::quiet_NaN();
  write_audio(dir.file("nan.wav"), x, 1, 32000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_user_error(dir.file("nan.wav"), "sample 37");
  x[37] = 0.f;
  x[80] = std::numeric_limits<float>::infinity();
  write_audio(dir.file("inf.wav"), x, 1, 32000, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  expect_user_error(dir.file("inf.wav"), "NaN or infinite");
}

TEST_CASE("audio_io: resample has torchaudio's length and soxr HQ accuracy on a sine", "[audio_io]") {
  for (int from : {44100, 48000, 22050, 16000, 8000, 11025})
    for (size_t n : {size_t(1), size_t(7), size_t(100), size_t(44100), size_t(44101)}) {
      INFO(from << " Hz, " << n << " samples");
      CHECK(resample(std::vector<float>(n, 0.1f), from, 32000).size() == (n * 32000 + from - 1) / from);
    }
  CHECK(resample({0.5f, 0.25f}, 32000, 32000) == std::vector<float>{0.5f, 0.25f});
  CHECK(resample({}, 44100, 32000).empty());
  CHECK_THROWS_AS(resample({1.f}, 0, 32000), UserError);

  // 1 kHz at 44.1 kHz -> 32 kHz: away from the ends, the output is the sine sampled at 32 kHz.
  const double f = 1000.0;
  std::vector<float> x(44100);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(0.5 * std::sin(2 * M_PI * f * double(i) / 44100.0));
  const std::vector<float> y = resample(x, 44100, 32000);
  REQUIRE(y.size() == 32000);
  double err = 0;
  for (size_t i = 2000; i < 30000; ++i)
    err = std::max(err, std::fabs(double(y[i]) - 0.5 * std::sin(2 * M_PI * f * double(i) / 32000.0)));
  CAPTURE(err);
  CHECK(err < 1e-5);  // 20-bit quality, float32 I/O
}

TEST_CASE("audio_io: concurrent resampling gives the sequential results", "[audio_io]") {
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> in(kThreads), seq(kThreads), par(kThreads);
  const int rates[kThreads] = {44100, 48000, 16000, 22050};
  for (int w = 0; w < kThreads; ++w) {
    in[w] = pcm16_ramp(30000, 11 + w);
    seq[w] = resample(in[w], rates[w], 32000);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w)
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 3; ++rep) par[w] = resample(in[w], rates[w], 32000);
    });
  for (auto& t : threads) t.join();
  for (int w = 0; w < kThreads; ++w) CHECK(par[w] == seq[w]);
}

TEST_CASE("audio_io: load_clip resamples, pads and truncates to the clip length", "[audio_io]") {
  test::TempDir dir("audio");
  FrontEndConfig fe;
  std::vector<float> x = pcm16_ramp(16000, 9);  // 1 s at 16 kHz
  write_audio(dir.file("short16k.wav"), x, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  std::vector<float> y = load_clip(dir.file("short16k.wav"), fe);
  REQUIRE(y.size() == 320000);
  const std::vector<float> r = resample(x, 16000, 32000);
  REQUIRE(r.size() == 32000);
  CHECK(std::equal(r.begin(), r.end(), y.begin()));
  CHECK(std::all_of(y.begin() + 32000, y.end(), [](float v) { return v == 0.f; }));

  std::vector<float> longer = pcm16_ramp(330000, 1);  // 10.3 s at 32 kHz: no resampling, truncated
  write_audio(dir.file("long32k.wav"), longer, 1, 32000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  y = load_clip(dir.file("long32k.wav"), fe);
  REQUIRE(y.size() == 320000);
  CHECK(std::equal(y.begin(), y.end(), longer.begin()));

  std::vector<float> v{1.f, 2.f, 3.f};
  pad_or_truncate(v, 5);
  CHECK(v == std::vector<float>{1.f, 2.f, 3.f, 0.f, 0.f});
  pad_or_truncate(v, 2);
  CHECK(v == std::vector<float>{1.f, 2.f});
}

TEST_CASE("audio_io: streamed resampling and decoding equal the whole-file results sample for sample", "[audio_io]") {
  // 7.3 s of a chirp at 44.1 kHz: chunks of odd sizes through Resampler, and AudioReader's own chunks.
  const int rate = 44100;
  std::vector<float> x(size_t(7.3 * rate));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(0.4 * std::sin(2 * M_PI * (200.0 + 0.3 * double(i) / rate * 2000) * double(i) / rate));
  const std::vector<float> whole = resample(x, rate, 32000);
  for (size_t chunk : {size_t(1), size_t(777), size_t(16384), size_t(100000)}) {
    Resampler r(rate, 32000);
    std::vector<float> y;
    for (size_t at = 0; at < x.size(); at += chunk) r.push(x.data() + at, std::min(chunk, x.size() - at), y);
    r.finish(y);
    INFO("chunk " << chunk);
    REQUIRE(y.size() == whole.size());
    CHECK(y == whole);
  }
  test::TempDir dir("audio_stream");
  std::vector<float> stereo(2 * x.size());
  for (size_t i = 0; i < x.size(); ++i) stereo[2 * i] = stereo[2 * i + 1] = x[i];
  write_audio(dir.file("a.wav"), stereo, 2, rate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  AudioReader reader(dir.file("a.wav"), 32000);
  CHECK(reader.sample_rate() == rate);
  CHECK(reader.channels() == 2);
  std::vector<float> streamed;
  int reads = 0;
  while (reader.read(streamed)) ++reads;
  CHECK(reads > 2);
  CHECK(reader.frames_decoded() == int64_t(x.size()));
  CHECK(streamed == resample(read_audio(dir.file("a.wav")).samples, rate, 32000));
}
