// Audio files for tests (header-only): write_audio(path, interleaved, channels, rate, format) with libsndfile.
#pragma once
#include <catch2/catch.hpp>
#include <sndfile.h>

#include <cmath>
#include <string>
#include <vector>

namespace engine::test {

// Writes interleaved frames (S, C) with libsndfile; format e.g. SF_FORMAT_WAV | SF_FORMAT_PCM_16. 16-bit
// formats get the samples as int16 k = x * 32768 (libsndfile's own float -> int16 conversion scales by
// 32767, the inverse of its reading only up to rounding).
inline void write_audio(const std::string& path, const std::vector<float>& interleaved, int channels, int rate,
                        int format) {
  SF_INFO info{};
  info.channels = channels;
  info.samplerate = rate;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  REQUIRE(f != nullptr);
  const sf_count_t frames = sf_count_t(interleaved.size() / size_t(channels));
  if ((format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16) {
    std::vector<short> pcm(interleaved.size());
    for (size_t i = 0; i < pcm.size(); ++i) pcm[i] = short(std::lround(interleaved[i] * 32768.f));
    REQUIRE(sf_writef_short(f, pcm.data(), frames) == frames);
  } else {
    REQUIRE(sf_writef_float(f, interleaved.data(), frames) == frames);
  }
  sf_close(f);
}

}  // namespace engine::test
