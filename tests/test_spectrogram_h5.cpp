// Spectrogram HDF5 files (data/spectrogram_h5.h): float16/float32 round trips, float16 rounding, the documented
// attributes and layout (read back with the raw HDF5 API), resume after an interruption (also one between two
// dataset extents), and the refusals: non-HDF5, .partial, incomplete, wrong version, front-end mismatch, NaN.
// Small shapes (M 6, T 11, K 5): the format takes any M, T, K.
#include <hdf5.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "data/spectrogram_check.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::data;
namespace fs = std::filesystem;

// Shared with tests/test_loader.cpp (declared there).
namespace spectrogram_test {

// Overwrites element `k` of clip `clip` in the logmel dataset of a finished file (float16 or float32),
// bypassing the writer's checks: how a damaged file is made.
void poke_logmel(const std::string& path, int64_t clip, int64_t k, float value) {
  auto lock = hdf5_lock();
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t ds = H5Dopen2(f, "logmel", H5P_DEFAULT);
  hid_t fs_ = H5Dget_space(ds);
  hsize_t dims[3];
  H5Sget_simple_extent_dims(fs_, dims, nullptr);
  const hsize_t start[3] = {hsize_t(clip), hsize_t(k) / dims[2], hsize_t(k) % dims[2]}, count[3] = {1, 1, 1};
  H5Sselect_hyperslab(fs_, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hid_t ms = H5Screate_simple(3, count, nullptr);
  REQUIRE(H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs_, H5P_DEFAULT, &value) >= 0);  // HDF5 converts to the file type
  H5Sclose(ms);
  H5Sclose(fs_);
  H5Dclose(ds);
  H5Fclose(f);
}

}  // namespace spectrogram_test

namespace {

// A path in this test program's scratch directory (removed when the tests end).
std::string temp_path(const std::string& name) { return test::process_temp_dir("spectrogram").file(name); }

FrontEndConfig small_front_end() {
  FrontEndConfig fe;
  fe.sample_rate = 8000;
  fe.clip_samples = 1600;
  fe.n_fft = 256;
  fe.hop = 160;  // T = 11
  fe.n_mels = 6;
  fe.f_min = 20;
  fe.f_max = 3800;
  return fe;
}
constexpr int K = 5;

// Clip i: dB-like values in [-100, 40) with non-representable fractions; labels (i >> c) & 1.
std::vector<float> clip_values(int64_t i, const FrontEndConfig& fe) {
  std::vector<float> x(size_t(fe.n_mels * fe.frames()));
  for (size_t k = 0; k < x.size(); ++k) x[k] = -100.0f + float(std::fmod(double(i) * 37.123 + double(k) * 1.7311, 140.0));
  return x;
}
std::vector<uint8_t> clip_labels(int64_t i) {
  std::vector<uint8_t> y(K);
  for (int c = 0; c < K; ++c) y[size_t(c)] = uint8_t((i >> c) & 1);
  return y;
}
std::string clip_name(int64_t i) { return "Y" + std::to_string(1000 + i) + "_30.000"; }

void append_clips(SpectrogramWriter& w, const FrontEndConfig& fe, int64_t from, int64_t to) {
  for (int64_t i = from; i < to; ++i)
    w.append(clip_name(i), clip_values(i, fe).data(), clip_labels(i).data(), "/audio/" + clip_name(i) + ".wav");
}

std::string write_file(const std::string& name, int64_t n, bool float32, const FrontEndConfig& fe = small_front_end()) {
  const std::string path = temp_path(name);
  SpectrogramWriter w(path, fe, K, float32, false, "test clips");
  append_clips(w, fe, 0, n);
  w.finish();
  return path;
}

// Raw HDF5 access to root attributes, for checking the documented format.
int64_t attr_int(hid_t f, const char* name) {
  int64_t v = -1;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
  H5Aclose(a);
  return v;
}
double attr_double(hid_t f, const char* name) {
  double v = -1;
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  REQUIRE(a >= 0);
  REQUIRE(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
  H5Aclose(a);
  return v;
}
std::string attr_string(hid_t f, const char* name) {
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  REQUIRE(a >= 0);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  char* p = nullptr;
  REQUIRE(H5Aread(a, t, &p) >= 0);
  std::string s = p;
  H5free_memory(p);
  H5Tclose(t);
  H5Aclose(a);
  return s;
}
void set_attr_int(const std::string& path, const char* name, int64_t v) {
  auto lock = hdf5_lock();
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
  H5Aclose(a);
  H5Fclose(f);
}

}  // namespace

TEST_CASE("spectrogram_h5: float16 round trip within half precision, names, sources, labels", "[data][hdf5]") {
  const FrontEndConfig fe = small_front_end();
  const std::string path = write_file("f16.h5", 7, false);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));

  SpectrogramReader r(path);
  REQUIRE(r.size() == 7);
  CHECK(r.num_classes() == K);
  CHECK_FALSE(r.float32());
  CHECK(r.front_end() == fe);
  CHECK(r.source_description() == "test clips");
  std::vector<float> x(size_t(fe.n_mels * fe.frames()));
  std::vector<uint8_t> y(K);
  int64_t inexact = 0;
  for (int64_t i = 0; i < 7; ++i) {
    CHECK(r.name(i) == clip_name(i));
    CHECK(r.source(i) == "/audio/" + clip_name(i) + ".wav");
    r.read(i, x.data(), y.data());
    const auto want = clip_values(i, fe);
    for (size_t k = 0; k < x.size(); ++k) {
      // Round to nearest: error at most half an ulp, 2^-11 relative for float16 normals.
      CHECK(std::fabs(x[k] - want[k]) <= std::ldexp(std::fabs(want[k]), -11));
      inexact += x[k] != want[k];
    }
    CHECK(y == clip_labels(i));
  }
  CHECK(inexact > 0);  // really stored as float16
}

TEST_CASE("spectrogram_h5: float16 rounds to nearest even, keeps subnormals, refuses overflow", "[data][hdf5]") {
  const float u = std::ldexp(1.0f, -11);  // half an ulp of 1 in float16
  const std::vector<float> in = {1.0f, 1.0f + u, 1.0f + 3 * u, 65504.0f, -0.0f, std::ldexp(1.0f, -24),
                                 3 * std::ldexp(1.0f, -25), 1e-9f, -2.5f, 65519.0f, std::ldexp(1.0f, -14), -0.1f};
  const std::vector<float> want = {1.0f, 1.0f, 1.0f + 4 * u, 65504.0f, -0.0f, std::ldexp(1.0f, -24),
                                   std::ldexp(1.0f, -23), 0.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -14),
                                   -0.0999755859375f};
  // Conversions go 8 at a time (F16C) with a scalar tail: clips of 12 values in both orders put every value
  // through the vector path, clips of 4 put every value through the scalar one.
  for (int T : {12, 4}) {
    for (bool reversed : {false, true}) {
      FrontEndConfig fe = small_front_end();
      fe.n_mels = 1;
      fe.clip_samples = (T - 1) * fe.hop;
      std::vector<float> x = in, x_want = want;
      if (reversed) {
        std::reverse(x.begin(), x.end());
        std::reverse(x_want.begin(), x_want.end());
      }
      const std::string path = temp_path("rounding.h5");
      const std::vector<uint8_t> labels(K, 0);
      {
        SpectrogramWriter w(path, fe, K, false, false, "rounding");
        for (size_t c = 0; c < x.size() / size_t(T); ++c)
          w.append("clip" + std::to_string(c), x.data() + c * size_t(T), labels.data(), "");
        std::vector<float> big(x.begin(), x.begin() + T);
        big[1] = -65520.0f;  // rounds to -inf in float16
        CHECK_THROWS_WITH(w.append("b", big.data(), labels.data(), ""),
                          Catch::Contains("'b'") && Catch::Contains("-65520 does not fit float16"));
        w.finish();
      }
      SpectrogramReader r(path);
      REQUIRE(r.size() == int64_t(x.size()) / T);
      std::vector<float> out(x.size());
      std::vector<uint8_t> y(K);
      for (int64_t c = 0; c < r.size(); ++c) r.read(c, out.data() + c * T, y.data());
      for (size_t k = 0; k < x.size(); ++k) {
        CHECK(out[k] == x_want[k]);
        CHECK(std::signbit(out[k]) == std::signbit(x_want[k]));
      }
    }
  }
}

TEST_CASE("spectrogram_h5: float32 round trip is exact", "[data][hdf5]") {
  const FrontEndConfig fe = small_front_end();
  const std::string path = write_file("f32.h5", 4, true);
  SpectrogramReader r(path);
  REQUIRE(r.size() == 4);
  CHECK(r.float32());
  std::vector<float> x(size_t(fe.n_mels * fe.frames()));
  std::vector<uint8_t> y(K);
  for (int64_t i = 0; i < 4; ++i) {
    r.read(i, x.data(), y.data());
    CHECK(x == clip_values(i, fe));
    CHECK(y == clip_labels(i));
  }
}

TEST_CASE("spectrogram_h5: attributes and dataset layout as documented", "[data][hdf5]") {
  const FrontEndConfig fe = small_front_end();
  const std::string path = write_file("attrs.h5", 3, false);
  auto lock = hdf5_lock();
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  CHECK(attr_string(f, "format") == "dcls-engine log-mel spectrograms");
  CHECK(attr_int(f, "format_version") == kSpectrogramFormatVersion);
  CHECK(attr_int(f, "complete") == 1);
  CHECK(attr_int(f, "num_clips") == 3);
  CHECK(attr_int(f, "num_classes") == K);
  CHECK(attr_int(f, "sample_rate") == fe.sample_rate);
  CHECK(attr_int(f, "clip_samples") == fe.clip_samples);
  CHECK(attr_int(f, "n_fft") == fe.n_fft);
  CHECK(attr_int(f, "hop") == fe.hop);
  CHECK(attr_int(f, "n_mels") == fe.n_mels);
  CHECK(attr_int(f, "frames") == fe.frames());
  CHECK(attr_double(f, "f_min") == fe.f_min);
  CHECK(attr_double(f, "f_max") == fe.f_max);
  CHECK(attr_double(f, "amin") == fe.amin);
  CHECK(attr_string(f, "window") == "hann_periodic");
  CHECK(attr_double(f, "center") == 1);
  CHECK(attr_string(f, "pad_mode") == "reflect");
  CHECK(attr_string(f, "mel_scale") == "htk");
  CHECK(attr_string(f, "mel_norm") == "none");
  CHECK(attr_double(f, "power") == 2);
  CHECK(attr_string(f, "db") == "10*log10(max(mel_power, amin)), ref 1, no top_db");
  CHECK(attr_string(f, "source") == "test clips");

  // logmel: (N, M, T) float16, one clip per chunk, unlimited N.
  hid_t ds = H5Dopen2(f, "logmel", H5P_DEFAULT);
  REQUIRE(ds >= 0);
  hid_t space = H5Dget_space(ds);
  hsize_t dims[3], maxdims[3], chunk[3];
  REQUIRE(H5Sget_simple_extent_dims(space, dims, maxdims) == 3);
  CHECK((dims[0] == 3 && dims[1] == hsize_t(fe.n_mels) && dims[2] == hsize_t(fe.frames())));
  CHECK(maxdims[0] == H5S_UNLIMITED);
  hid_t dcpl = H5Dget_create_plist(ds);
  REQUIRE(H5Pget_chunk(dcpl, 3, chunk) == 3);
  CHECK((chunk[0] == 1 && chunk[1] == dims[1] && chunk[2] == dims[2]));
  hid_t type = H5Dget_type(ds);
  CHECK(H5Tget_class(type) == H5T_FLOAT);
  CHECK(H5Tget_size(type) == 2);
  H5Tclose(type);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Dclose(ds);
  // labels (N, K) uint8; clip_names and sources (N) strings.
  ds = H5Dopen2(f, "labels", H5P_DEFAULT);
  space = H5Dget_space(ds);
  REQUIRE(H5Sget_simple_extent_dims(space, dims, nullptr) == 2);
  CHECK((dims[0] == 3 && dims[1] == K));
  type = H5Dget_type(ds);
  CHECK((H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == 1 && H5Tget_sign(type) == H5T_SGN_NONE));
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(ds);
  for (const char* name : {"clip_names", "sources"}) {
    ds = H5Dopen2(f, name, H5P_DEFAULT);
    REQUIRE(ds >= 0);
    type = H5Dget_type(ds);
    CHECK(H5Tget_class(type) == H5T_STRING);
    H5Tclose(type);
    H5Dclose(ds);
  }
  H5Fclose(f);
}

TEST_CASE("spectrogram_h5: resume after an interrupted run", "[data][hdf5]") {
  const FrontEndConfig fe = small_front_end();
  const std::string path = temp_path("resume.h5");
  fs::remove(path);  // left by the previous SECTION's run
  {
    SpectrogramWriter w(path, fe, K, false, false, "run 1");
    append_clips(w, fe, 0, 3);
    CHECK(w.size() == 3);
  }  // destroyed without finish(): the run was interrupted
  CHECK(fs::exists(path + ".partial"));
  CHECK_FALSE(fs::exists(path));
  CHECK_THROWS_WITH(SpectrogramReader(path), Catch::Contains(path) && Catch::Contains("did not finish"));
  CHECK_THROWS_WITH(SpectrogramReader(path + ".partial"), Catch::Contains("unfinished"));

  SECTION("resume continues the rows and finishes") {
    {
      SpectrogramWriter w(path, fe, K, false, true, "run 2");
      CHECK(w.size() == 3);
      for (int64_t i = 0; i < 3; ++i) CHECK(w.contains(clip_name(i)));
      CHECK_FALSE(w.contains(clip_name(3)));
      CHECK_THROWS_WITH(append_clips(w, fe, 2, 3), Catch::Contains("duplicate clip name"));
      append_clips(w, fe, 3, 5);
      w.finish();
    }
    CHECK_FALSE(fs::exists(path + ".partial"));
    SpectrogramReader r(path);
    REQUIRE(r.size() == 5);
    CHECK(r.source_description() == "run 1");
    std::vector<float> x(size_t(fe.n_mels * fe.frames()));
    std::vector<uint8_t> y(K);
    for (int64_t i = 0; i < 5; ++i) {
      CHECK(r.name(i) == clip_name(i));
      r.read(i, x.data(), y.data());
      CHECK(y == clip_labels(i));
      CHECK(std::fabs(x[7] - clip_values(i, fe)[7]) <= std::ldexp(std::fabs(clip_values(i, fe)[7]), -11));
    }
    CHECK_THROWS_WITH(SpectrogramWriter(path, fe, K, false, true, "run 3"), Catch::Contains("already complete"));
  }
  SECTION("a crash between dataset extents: the half-written row does not count") {
    {
      // As if killed inside append(): logmel and labels already extended to 4 rows, num_clips still 3.
      auto lock = hdf5_lock();
      hid_t f = H5Fopen((path + ".partial").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      REQUIRE(f >= 0);
      const hsize_t lm[3] = {4, hsize_t(fe.n_mels), hsize_t(fe.frames())}, lb[2] = {4, K};
      hid_t ds = H5Dopen2(f, "logmel", H5P_DEFAULT);
      REQUIRE(H5Dset_extent(ds, lm) >= 0);
      H5Dclose(ds);
      ds = H5Dopen2(f, "labels", H5P_DEFAULT);
      REQUIRE(H5Dset_extent(ds, lb) >= 0);
      H5Dclose(ds);
      H5Fclose(f);
    }
    {
      SpectrogramWriter w(path, fe, K, false, true, "run 2");
      CHECK(w.size() == 3);
      CHECK_FALSE(w.contains(clip_name(3)));
      append_clips(w, fe, 3, 4);
      w.finish();
    }
    SpectrogramReader r(path);
    REQUIRE(r.size() == 4);
    std::vector<float> x(size_t(fe.n_mels * fe.frames()));
    std::vector<uint8_t> y(K);
    r.read(3, x.data(), y.data());
    CHECK(r.name(3) == clip_name(3));
    CHECK(y == clip_labels(3));
  }
  SECTION("resume refuses another front end, naming both") {
    FrontEndConfig other = fe;
    other.hop = 100;
    CHECK_THROWS_WITH(SpectrogramWriter(path, other, K, false, true, "run 2"),
                      Catch::Contains(fe.describe()) && Catch::Contains(other.describe()));
    CHECK_THROWS_WITH(SpectrogramWriter(path, fe, K + 1, false, true, "run 2"), Catch::Contains("classes"));
    CHECK_THROWS_WITH(SpectrogramWriter(path, fe, K, true, true, "run 2"), Catch::Contains("float16"));
  }
  SECTION("without resume the .partial starts over") {
    SpectrogramWriter w(path, fe, K, false, false, "run 2");
    CHECK(w.size() == 0);
    CHECK_FALSE(w.contains(clip_name(0)));
  }
}

TEST_CASE("spectrogram_h5: refusals name the file and the problem", "[data][hdf5]") {
  const FrontEndConfig fe = small_front_end();
  SECTION("not an HDF5 file") {
    const std::string path = temp_path("text.h5");
    std::ofstream(path) << "YTID, start_seconds, end_seconds, positive_labels\n";
    CHECK_THROWS_AS(SpectrogramReader(path), UserError);
    CHECK_THROWS_WITH(SpectrogramReader(path), Catch::Equals(path + ": not an HDF5 file"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(SpectrogramReader(temp_path("missing.h5")), Catch::Contains("missing.h5: no such file"));
  }
  SECTION("front-end mismatch names both configurations") {
    const std::string path = write_file("mismatch.h5", 2, false);
    SpectrogramReader r(path);
    r.require_front_end(fe);
    const FrontEndConfig paper;  // the defaults: 32 kHz, 128 mels
    CHECK_THROWS_AS(r.require_front_end(paper), UserError);
    CHECK_THROWS_WITH(r.require_front_end(paper), Catch::Contains(path) && Catch::Contains(fe.describe()) &&
                                                      Catch::Contains(paper.describe()));
  }
  SECTION("NaN or inf in a clip names the file, the clip index and its name") {
    const std::string path = write_file("nan.h5", 4, false);
    spectrogram_test::poke_logmel(path, 2, 13, std::nanf(""));
    spectrogram_test::poke_logmel(path, 3, 0, INFINITY);
    SpectrogramReader r(path);
    std::vector<float> x(size_t(fe.n_mels * fe.frames()));
    std::vector<uint8_t> y(K);
    r.read(1, x.data(), y.data());
    CHECK_THROWS_WITH(r.read(2, x.data(), y.data()),
                      Catch::Equals(path + ": clip 2 (" + clip_name(2) + "): log-mel contains NaN at mel bin 1, frame 2"));
    CHECK_THROWS_WITH(r.read(3, x.data(), y.data()), Catch::Contains("clip 3") && Catch::Contains("inf"));
  }
  SECTION("the writer refuses NaN input and bad labels") {
    SpectrogramWriter w(temp_path("bad_input.h5"), fe, K, true, false, "");
    auto x = clip_values(0, fe);
    x[5] = std::nanf("");
    CHECK_THROWS_WITH(w.append("bad", x.data(), clip_labels(0).data(), ""),
                      Catch::Contains("clip 'bad'") && Catch::Contains("NaN"));
    std::vector<uint8_t> y(K, 2);
    CHECK_THROWS_WITH(w.append("bad", clip_values(0, fe).data(), y.data(), ""), Catch::Contains("expected 0 or 1"));
    CHECK(w.size() == 0);
  }
  SECTION("another format version") {
    const std::string path = write_file("version.h5", 1, false);
    set_attr_int(path, "format_version", kSpectrogramFormatVersion + 1);
    CHECK_THROWS_WITH(SpectrogramReader(path), Catch::Contains(path) && Catch::Contains("format version 2"));
  }
  SECTION("a file not marked complete") {
    const std::string path = write_file("incomplete.h5", 1, false);
    set_attr_int(path, "complete", 0);
    CHECK_THROWS_WITH(SpectrogramReader(path), Catch::Contains(path) && Catch::Contains("incomplete"));
  }
  SECTION("fixed-length clip names (HDF5 cannot convert them) are refused at open") {
    const std::string path = write_file("fixed_names.h5", 2, false);
    {
      auto lock = hdf5_lock();
      hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      REQUIRE(H5Ldelete(f, "clip_names", H5P_DEFAULT) >= 0);
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, 20);
      const hsize_t n[1] = {2};
      hid_t space = H5Screate_simple(1, n, nullptr);
      hid_t ds = H5Dcreate2(f, "clip_names", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      REQUIRE(ds >= 0);
      H5Dclose(ds);
      H5Sclose(space);
      H5Tclose(t);
      H5Fclose(f);
    }
    CHECK_THROWS_WITH(SpectrogramReader(path),
                      Catch::Equals(path + ": dataset clip_names must hold variable-length strings"));
  }
  SECTION("an HDF5 file of another kind") {
    const std::string path = temp_path("other.h5");
    {
      auto lock = hdf5_lock();
      hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      H5Fclose(f);
    }
    CHECK_THROWS_WITH(SpectrogramReader(path), Catch::Contains("not a dcls-engine spectrogram file"));
  }
}

TEST_CASE("engine_prep --check: non-finite, silent, unlabelled and duplicate clips; a content checksum", "[h5]") {
  const FrontEndConfig fe = small_front_end();
  const int K = 527;
  const size_t MT = size_t(fe.n_mels) * size_t(fe.frames());
  auto clip = [&](int seed) {
    std::vector<float> x(MT);
    for (size_t k = 0; k < MT; ++k) x[k] = float(-40.0 + 10.0 * std::sin(0.37 * double(k) + seed));
    return x;
  };
  auto write = [&](const std::string& name, int last_label) {
    const std::string path = temp_path(name);
    std::error_code ec;
    fs::remove(path, ec);
    SpectrogramWriter w(path, fe, K, true, false, "test");
    std::vector<uint8_t> y(K, 0);
    y[0] = 1;
    w.append("a", clip(1).data(), y.data(), "a.wav");
    w.append("silent", std::vector<float>(MT, float(10.0 * std::log10(fe.amin))).data(), y.data(), "s.wav");
    w.append("nan later", clip(3).data(), y.data(), "n.wav");
    std::vector<uint8_t> none(K, 0);
    w.append("no labels", clip(4).data(), none.data(), "l.wav");
    y[size_t(last_label)] = 1;
    w.append("copy of a", clip(1).data(), y.data(), "c.wav");  // a duplicate only when its labels equal a's
    w.finish();
    return path;
  };
  const std::string dup = write("check_dup.h5", 0), differs = write("check_differs.h5", 5);
  spectrogram_test::poke_logmel(dup, 2, 7, std::nanf(""));
  const SpectrogramCheck c = check_spectrogram_file(dup);
  CHECK_FALSE(c.ok());
  CHECK(c.clips == 5);
  REQUIRE(c.non_finite.size() == 1);
  CHECK(c.non_finite[0].index == 2);
  CHECK(c.non_finite[0].what.find("NaN") != std::string::npos);
  REQUIRE(c.silent.size() == 1);
  CHECK(c.silent[0].name == "silent");
  REQUIRE(c.unlabelled.size() == 1);
  CHECK(c.unlabelled[0].index == 3);
  REQUIRE(c.duplicates.size() == 1);
  CHECK(c.duplicates[0].index == 4);
  CHECK(c.duplicates[0].what == "duplicate of clip 0 (a)");
  CHECK(c.positives[0] == 4);
  CHECK(c.labels_min == 0);
  CHECK(c.labels_max == 1);
  const std::string report = c.report();
  CHECK(report.find("problems: 1 non-finite, 1 silent, 1 without labels, 1 duplicates") != std::string::npos);
  CHECK(report.find("most frequent: Speech (4)") != std::string::npos);
  // The checksum: the same content gives the same one, one label more another.
  const SpectrogramCheck d = check_spectrogram_file(differs);
  CHECK(d.duplicates.empty());
  CHECK(d.sha256.size() == 64);
  CHECK(d.sha256 != c.sha256);
  CHECK(check_spectrogram_file(differs).sha256 == d.sha256);
  const std::string again = write("check_differs_again.h5", 5);
  CHECK(check_spectrogram_file(again).sha256 == d.sha256);
}
