// Audio reading (libsndfile), mono mix, resampling (libsoxr) and padding; see audio_io.h.
#include "data/audio_io.h"

#include <sndfile.h>
#include <soxr.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "engine/check.h"

namespace engine::data {

namespace {

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};

// soxr 0.1.3 creates the locks of its shared FFT tables (used by its non-SIMD engines and by minimum-phase
// filters) lazily on first use, without a lock; one call before any concurrent use does it. Later calls
// are safe from many threads.
void soxr_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<float> x(64, 0.f), y(64);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    size_t odone = 0;
    soxr_oneshot(44100, 32000, 1, x.data(), x.size(), nullptr, y.data(), y.size(), &odone, &io, &q, &rt);
  });
}

}  // namespace

AudioClip read_audio(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) user_error(path, ": cannot open audio file (", std::strerror(errno), ")");
  USER_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  USER_CHECK(st.st_size > 0, path, ": empty file (0 bytes)");

  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  std::unique_ptr<SNDFILE, SndfileCloser> f(sf_open(path.c_str(), SFM_READ, &info));
  // sf_strerror(nullptr) reads libsndfile's last open error; under concurrent failing opens the reason
  // may name another file's problem, the path is always right.
  if (!f) user_error(path, ": not a readable audio file (libsndfile: ", sf_strerror(nullptr), ")");
  USER_CHECK(info.channels > 0 && info.samplerate > 0, path, ": bad header (", info.channels, " channels, ",
             info.samplerate, " Hz)");

  AudioClip clip;
  clip.sample_rate = info.samplerate;
  clip.channels = info.channels;
  const int C = info.channels;
  // The header's frame count sizes nothing beyond what the file could hold even if heavily compressed.
  const double plausible = 64.0 * static_cast<double>(st.st_size);
  if (info.frames > 0 && static_cast<double>(info.frames) <= plausible)
    clip.samples.reserve(static_cast<size_t>(info.frames));

  constexpr sf_count_t kChunk = 16384;                  // frames per read
  std::vector<float> buf(static_cast<size_t>(kChunk) * C);  // (kChunk, C) interleaved
  for (;;) {
    const sf_count_t got = sf_readf_float(f.get(), buf.data(), kChunk);
    if (got <= 0) break;
    const size_t base = clip.samples.size();
    clip.samples.resize(base + static_cast<size_t>(got));
    float* dst = clip.samples.data() + base;
    for (sf_count_t i = 0; i < got; ++i) {
      const float* fr = &buf[static_cast<size_t>(i) * C];
      double s = 0;
      for (int c = 0; c < C; ++c) s += fr[c];
      dst[i] = static_cast<float>(s / C);
      if (!std::isfinite(dst[i]))
        user_error(path, ": sample ", base + i, " (", double(base + i) / info.samplerate, " s) is NaN or infinite");
    }
  }
  // A decode error mid-file ends the loop like the end of the data would; a corrupt compressed stream
  // (FLAC, Vorbis) is an error, a short WAV data chunk is not (libsndfile reports no error for it).
  const int err = sf_error(f.get());
  if (err != SF_ERR_NO_ERROR) user_error(path, ": decoding failed after ", clip.samples.size(),
                                         " frames (libsndfile: ", sf_error_number(err), ")");
  USER_CHECK(!clip.samples.empty(), path, ": contains no audio samples (0 frames)");
  return clip;
}

std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate) {
  USER_CHECK(from_rate > 0 && to_rate > 0, "resample: sample rates must be positive, got ", from_rate, " -> ",
             to_rate);
  if (from_rate == to_rate || x.empty()) return x;
  soxr_init_once();
  // torchaudio's length: ceil(S * to / from). soxr emits round(S' * to / from) samples for S' input
  // samples and treats the signal as zero past its end, so a few appended zeros give the ceil's last
  // sample its value instead of leaving it out.
  const size_t olen = static_cast<size_t>(
      (static_cast<unsigned long long>(x.size()) * to_rate + from_rate - 1) / from_rate);
  std::vector<float> xin(x.size() + static_cast<size_t>(from_rate / to_rate) + 2, 0.f);  // (S') zero-extended
  std::copy(x.begin(), x.end(), xin.begin());
  std::vector<float> y(olen + static_cast<size_t>(to_rate / from_rate) + 2, 0.f);
  soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_runtime_spec_t rt = soxr_runtime_spec(1);  // callers parallelise over clips
  size_t odone = 0;
  soxr_error_t e = soxr_oneshot(from_rate, to_rate, 1, xin.data(), xin.size(), nullptr, y.data(), y.size(), &odone,
                                &io, &q, &rt);
  ENGINE_CHECK(!e, "soxr_oneshot ", from_rate, " -> ", to_rate, ": ", e);
  ENGINE_CHECK(odone >= olen, "soxr_oneshot returned ", odone, " of ", olen, " samples");
  y.resize(olen);
  return y;
}

void pad_or_truncate(std::vector<float>& x, size_t n) { x.resize(n, 0.f); }

std::vector<float> load_clip(const std::string& path, const FrontEndConfig& fe) {
  AudioClip clip = read_audio(path);
  std::vector<float> x = clip.sample_rate == fe.sample_rate
                             ? std::move(clip.samples)
                             : resample(clip.samples, clip.sample_rate, fe.sample_rate);
  pad_or_truncate(x, static_cast<size_t>(fe.clip_samples));
  return x;
}

}  // namespace engine::data
