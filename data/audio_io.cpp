// Audio reading (libsndfile), mono mix, resampling (libsoxr) and padding; see audio_io.h.
#include "data/audio_io.h"

#include <sndfile.h>
#include <soxr.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
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

struct Resampler::Impl {
  int from = 0, to = 0;
  soxr_t soxr = nullptr;         // null when the rates are equal
  unsigned long long in_count = 0, out_count = 0;
  bool finished = false;

  // Runs soxr on n samples (x null: flush) and appends what it returns.
  void process(const float* x, size_t n, std::vector<float>& out) {
    size_t consumed = 0;
    for (;;) {
      const size_t room = (n - consumed) * size_t(to) / size_t(from) + 1024;
      const size_t base = out.size();
      out.resize(base + room);
      size_t idone = 0, odone = 0;
      soxr_error_t e = soxr_process(soxr, x ? x + consumed : nullptr, x ? n - consumed : 0, &idone,
                                    out.data() + base, room, &odone);
      ENGINE_CHECK(!e, "soxr_process ", from, " -> ", to, ": ", e);
      out.resize(base + odone);
      out_count += odone;
      consumed += idone;
      if (x ? consumed >= n : odone == 0) return;
    }
  }
};

Resampler::Resampler(int from_rate, int to_rate) : impl_(std::make_unique<Impl>()) {
  USER_CHECK(from_rate > 0 && to_rate > 0, "resample: sample rates must be positive, got ", from_rate, " -> ",
             to_rate);
  impl_->from = from_rate;
  impl_->to = to_rate;
  if (from_rate == to_rate) return;
  soxr_init_once();
  soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  soxr_runtime_spec_t rt = soxr_runtime_spec(1);  // callers parallelise over clips
  soxr_error_t e = nullptr;
  impl_->soxr = soxr_create(from_rate, to_rate, 1, &e, &io, &q, &rt);
  ENGINE_CHECK(!e && impl_->soxr, "soxr_create ", from_rate, " -> ", to_rate, ": ", e ? e : "null");
}

Resampler::~Resampler() {
  if (impl_->soxr) soxr_delete(impl_->soxr);
}

void Resampler::push(const float* x, size_t n, std::vector<float>& out) {
  ENGINE_CHECK(!impl_->finished, "Resampler::push after finish");
  impl_->in_count += n;
  if (!impl_->soxr) {
    out.insert(out.end(), x, x + n);
    return;
  }
  if (n) impl_->process(x, n, out);
}

void Resampler::finish(std::vector<float>& out) {
  ENGINE_CHECK(!impl_->finished, "Resampler::finish twice");
  impl_->finished = true;
  if (!impl_->soxr || impl_->in_count == 0) return;
  // torchaudio's length: ceil(S * to / from). soxr emits round(S' * to / from) samples for S' input samples
  // and treats the signal as zero past its end, so a few appended zeros give the ceil's last sample its value
  // instead of leaving it out; what they add beyond that length is cut.
  const unsigned long long olen = (impl_->in_count * unsigned(impl_->to) + unsigned(impl_->from) - 1) / unsigned(impl_->from);
  const size_t before = out.size();
  const unsigned long long emitted_before = impl_->out_count;
  const std::vector<float> zeros(size_t(impl_->from / impl_->to) + 2, 0.f);
  impl_->process(zeros.data(), zeros.size(), out);
  impl_->process(nullptr, 0, out);
  ENGINE_CHECK(impl_->out_count >= olen, "soxr returned ", impl_->out_count, " of ", olen, " samples");
  const unsigned long long excess = impl_->out_count - olen;
  ENGINE_CHECK(excess <= impl_->out_count - emitted_before, "soxr emitted ", excess, " samples past the end early");
  out.resize(out.size() - size_t(excess));
  ENGINE_CHECK(out.size() >= before, "Resampler::finish cut into earlier output");
}

struct AudioReader::Impl {
  std::string path;
  SF_INFO info{};
  std::unique_ptr<SNDFILE, SndfileCloser> file;
  std::unique_ptr<Resampler> resampler;  // null: the file's rate
  int out_rate = 0;
  int64_t decoded = 0;
  bool done = false;
  std::vector<float> interleaved, mono;
};

namespace {

constexpr sf_count_t kChunkFrames = 16384;  // frames per read

// Bytes per frame of a PCM-like subtype, 0 when it has no fixed size.
int bytes_per_frame(const SF_INFO& info) {
  switch (info.format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_U8: case SF_FORMAT_ULAW: case SF_FORMAT_ALAW: return info.channels;
    case SF_FORMAT_PCM_16: return 2 * info.channels;
    case SF_FORMAT_PCM_24: return 3 * info.channels;
    case SF_FORMAT_PCM_32: case SF_FORMAT_FLOAT: return 4 * info.channels;
    case SF_FORMAT_DOUBLE: return 8 * info.channels;
    default: return 0;
  }
}

std::string truncated(double declared_frames, double held_frames, int rate) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "truncated: the header declares %.3f s (%.0f frames), the file holds %.3f s (%.0f frames)",
                declared_frames / rate, declared_frames, held_frames / rate, held_frames);
  return buf;
}

// libsndfile fixes a WAV/AIFF data chunk that claims more bytes than the file holds and says so only in its
// log, as "data : 640000 (should be 4956)": then the file was cut short (an interrupted download or copy).
// "" when the log has no such line for the audio data.
std::string chunk_truncation(SNDFILE* f, const SF_INFO& info) {
  char log[8192] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
  for (const char* key : {"\ndata : ", "\nSSND : "}) {
    const char* p = std::strstr(log, key);
    if (!p) continue;
    long long declared = 0, holds = 0;
    if (std::sscanf(p + std::strlen(key), "%lld (should be %lld)", &declared, &holds) != 2 || holds >= declared)
      continue;
    const int bpf = bytes_per_frame(info);
    if (bpf > 0) return truncated(double(declared / bpf), double(info.frames), info.samplerate);
    return "truncated: the header declares " + std::to_string(declared) + " bytes of audio, the file holds " +
           std::to_string(holds);
  }
  return "";
}

}  // namespace

AudioReader::AudioReader(const std::string& path, int out_rate) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) user_error(path, ": cannot open audio file (", std::strerror(errno), ")");
  USER_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
  USER_CHECK(st.st_size > 0, path, ": empty file (0 bytes)");
  m.file.reset(sf_open(path.c_str(), SFM_READ, &m.info));
  // sf_strerror(nullptr) reads libsndfile's last open error; under concurrent failing opens the reason
  // may name another file's problem, the path is always right.
  if (!m.file) user_error(path, ": not a readable audio file (libsndfile: ", sf_strerror(nullptr), ")");
  USER_CHECK(m.info.channels > 0 && m.info.samplerate > 0, path, ": bad header (", m.info.channels, " channels, ",
             m.info.samplerate, " Hz)");
  const std::string cut = chunk_truncation(m.file.get(), m.info);
  if (!cut.empty()) user_error(path, ": ", cut);
  m.out_rate = out_rate > 0 ? out_rate : m.info.samplerate;
  if (m.out_rate != m.info.samplerate) m.resampler = std::make_unique<Resampler>(m.info.samplerate, m.out_rate);
  m.interleaved.resize(size_t(kChunkFrames) * size_t(m.info.channels));
}

AudioReader::~AudioReader() = default;

int AudioReader::sample_rate() const { return impl_->info.samplerate; }
int AudioReader::channels() const { return impl_->info.channels; }
int AudioReader::out_rate() const { return impl_->out_rate; }
int64_t AudioReader::frames_decoded() const { return impl_->decoded; }

bool AudioReader::read(std::vector<float>& out) {
  Impl& m = *impl_;
  if (m.done) return false;
  const int C = m.info.channels;
  const sf_count_t got = sf_readf_float(m.file.get(), m.interleaved.data(), kChunkFrames);
  if (got <= 0) {
    // A decode error mid-file ends the reads like the end of the data would; a corrupt compressed stream
    // (FLAC, Vorbis) is an error, a short WAV data chunk is not (libsndfile reports no error for it).
    const int err = sf_error(m.file.get());
    if (err != SF_ERR_NO_ERROR) {
      char at[160] = "";
      if (m.info.frames > m.decoded)
        std::snprintf(at, sizeof at, " of the %lld the header declares (%.3f of %.3f s)", (long long)m.info.frames,
                      double(m.decoded) / m.info.samplerate, double(m.info.frames) / m.info.samplerate);
      user_error(m.path, ": decoding failed after ", m.decoded, " frames", at, " (libsndfile: ", sf_error_number(err), ")");
    }
    USER_CHECK(m.decoded > 0, m.path, ": contains no audio samples (0 frames)");
    // FLAC's STREAMINFO gives the exact length; a stream that ends before it was cut short.
    if ((m.info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC && m.info.frames > m.decoded)
      user_error(m.path, ": ", truncated(double(m.info.frames), double(m.decoded), m.info.samplerate));
    m.done = true;
    const size_t before = out.size();
    if (m.resampler) m.resampler->finish(out);
    return out.size() > before;
  }
  m.mono.resize(size_t(got));
  for (sf_count_t i = 0; i < got; ++i) {
    const float* fr = &m.interleaved[size_t(i) * size_t(C)];
    double s = 0;
    for (int c = 0; c < C; ++c) s += fr[c];
    m.mono[size_t(i)] = static_cast<float>(s / C);
    if (!std::isfinite(m.mono[size_t(i)]))
      user_error(m.path, ": sample ", m.decoded + i, " (", double(m.decoded + i) / m.info.samplerate,
                 " s) is NaN or infinite");
  }
  m.decoded += got;
  if (m.resampler) m.resampler->push(m.mono.data(), m.mono.size(), out);
  else out.insert(out.end(), m.mono.begin(), m.mono.end());
  return true;
}

AudioClip read_audio(const std::string& path) {
  AudioReader reader(path);
  AudioClip clip;
  clip.sample_rate = reader.sample_rate();
  clip.channels = reader.channels();
  while (reader.read(clip.samples)) {
  }
  return clip;
}

std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate) {
  Resampler r(from_rate, to_rate);
  std::vector<float> y;
  y.reserve(size_t((unsigned long long)x.size() * unsigned(to_rate) / unsigned(from_rate)) + 16);
  r.push(x.data(), x.size(), y);
  r.finish(y);
  return y;
}

void pad_or_truncate(std::vector<float>& x, size_t n) { x.resize(n, 0.f); }

std::vector<float> load_clip(const std::string& path, const FrontEndConfig& fe, double* seconds) {
  AudioClip clip = read_audio(path);
  if (seconds) *seconds = double(clip.samples.size()) / clip.sample_rate;
  std::vector<float> x = clip.sample_rate == fe.sample_rate
                             ? std::move(clip.samples)
                             : resample(clip.samples, clip.sample_rate, fe.sample_rate);
  pad_or_truncate(x, static_cast<size_t>(fe.clip_samples));
  return x;
}

}  // namespace engine::data
