// engine_prep's pipeline (data/prep.h) end to end: audio files from a manifest and from an official-format
// segments CSV, PANNs waveform HDF5 (h5py-written fixture and one written here with the HDF5 C API), bad
// inputs reported with reasons, resume after an interruption, --strict, and labels/log-mels in the output.
#include <hdf5.h>
#include <sndfile.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>

#include "data/audio_io.h"
#include "data/audioset_csv.h"
#include "data/logmel.h"
#include "data/panns_h5.h"
#include "data/prep.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"
#include "tests/harness/audio_file.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::data;
namespace fs = std::filesystem;
using test::read_bytes;
using test::write_bytes;

static const std::string kLabels = ENGINE_TEST_DATA_DIR "/../../data/class_labels_indices.csv";

// A fresh, empty directory in this test program's scratch space (removed when the tests end).
static fs::path fresh_dir(const std::string& name) {
  fs::path dir = test::process_temp_dir("prep").path / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A tone of `freq` Hz, amplitude 0.5, in every channel, written by libsndfile (format e.g. SF_FORMAT_WAV |
// SF_FORMAT_PCM_16).
static void write_audio(const fs::path& path, int rate, int channels, double seconds, int format, double freq) {
  const size_t frames = size_t(rate * seconds);
  std::vector<float> x(frames * size_t(channels));  // (frames, channels) interleaved
  for (size_t i = 0; i < frames; ++i)
    for (int c = 0; c < channels; ++c) x[i * channels + c] = float(0.5 * std::sin(2 * M_PI * freq * double(i) / rate));
  test::write_audio(path.string(), x, channels, rate, format);
}

static std::vector<std::vector<std::string>> read_tsv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> row;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

static std::vector<float> logmel_of(const std::vector<float>& wave, const FrontEndConfig& fe) {
  std::vector<float> out(size_t(fe.n_mels) * fe.frames());  // (M, T)
  LogMel(fe).compute(wave.data(), out.data());
  return out;
}

static std::vector<int> label_indices(const uint8_t* y, int K) {
  std::vector<int> out;
  for (int k = 0; k < K; ++k)
    if (y[k]) out.push_back(k);
  return out;
}

static PrepConfig config(const fs::path& out, int threads, bool float32) {
  PrepConfig cfg;
  cfg.output = out.string();
  cfg.threads = threads;
  cfg.float32 = float32;
  cfg.progress = false;
  cfg.source_description = "test_prep";
  return cfg;
}

TEST_CASE("prep from a manifest: WAV/FLAC at mixed rates and channels written, bad files reported", "[prep]") {
  fs::path dir = fresh_dir("manifest");
  write_audio(dir / "a.wav", 44100, 2, 10.0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 440);
  write_audio(dir / "b.flac", 16000, 1, 10.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1000);
  write_audio(dir / "c.wav", 32000, 1, 3.0, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2000);    // padded to 10 s
  write_audio(dir / "d.flac", 48000, 2, 12.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 300);  // truncated to 10 s
  std::string wav = read_bytes(dir / "a.wav");
  write_bytes(dir / "cut_data.wav", wav.substr(0, 100000));  // data chunk cut short: a failure, not a short clip
  write_bytes(dir / "cut_header.wav", wav.substr(0, 20));    // not even a whole header
  write_bytes(dir / "empty.wav", "");
  write_bytes(dir / "text.wav", "this is not audio\n");
  std::ofstream(dir / "list.csv") << "path,labels\n"
                                     "a.wav,Speech;Dog\n"
                                     "cut_header.wav,Music\n"
                                     "b.flac,\"Male speech, man speaking\"\n"
                                     "empty.wav,/m/09x0r\n"
                                     "c.wav,/m/04rlf\n"
                                     "missing.wav,Music\n"
                                     "d.flac,\"Music,/m/0bt9lr\"\n"
                                     "text.wav,Music\n"
                                     "cut_data.wav,Speech\n";
  ClassLabels classes = read_class_labels(kLabels);
  std::vector<PrepClip> clips =
      clips_from_manifest(read_manifest((dir / "list.csv").string(), classes), dir.string(), classes.size());
  REQUIRE(clips.size() == 9);
  CHECK(clips[0].path == (dir / "a.wav").string());

  fs::path out = dir / "out.h5";
  PrepResult res = run_prep(clips, nullptr, config(out, 2, true));
  CHECK(res.finished);
  CHECK(res.total == 9);
  CHECK(res.written == 4);
  CHECK(res.padded == 1);  // c.wav: 3 s, as its header says
  CHECK(res.summary().find("4 written (1 shorter than a clip, zero-padded)") != std::string::npos);
  CHECK(res.skipped == 0);
  CHECK(res.failed == 5);
  CHECK(res.threads == 2);
  CHECK(!fs::exists(out.string() + ".partial"));

  // the failure report: the bad clips in manifest order, each with a reason
  auto rows = read_tsv(out.string() + ".failed.tsv");
  REQUIRE(rows.size() == 6);
  CHECK(rows[0] == std::vector<std::string>{"clip", "path", "reason"});
  const char* bad[] = {"cut_header.wav", "empty.wav", "missing.wav", "text.wav", "cut_data.wav"};
  for (int i = 0; i < 5; ++i) {
    REQUIRE(rows[i + 1].size() == 3);
    CHECK(rows[i + 1][0] == bad[i]);
    CHECK(rows[i + 1][1] == (dir / bad[i]).string());
    CHECK(!rows[i + 1][2].empty());
  }
  CHECK(rows[3][2] == "missing: no such file");
  CHECK(rows[5][2].rfind("truncated: the header declares 10.000 s (441000 frames), the file holds ", 0) == 0);
  CHECK(res.report_path == out.string() + ".failed.tsv");

  // the good clips, in manifest order, with their labels and log-mels
  SpectrogramReader r(out.string());
  REQUIRE(r.size() == 4);
  CHECK(r.float32());
  CHECK(r.num_classes() == 527);
  const char* good[] = {"a.wav", "b.flac", "c.wav", "d.flac"};
  std::vector<std::vector<int>> good_labels = {{0, 74}, {1}, {137}, {74, 137}};
  const FrontEndConfig fe;
  std::vector<float> lm(size_t(fe.n_mels) * fe.frames());
  std::vector<uint8_t> y(527);
  for (int i = 0; i < 4; ++i) {
    CHECK(r.name(i) == good[i]);
    CHECK(r.source(i) == (dir / good[i]).string());
    r.read(i, lm.data(), y.data());
    CHECK(label_indices(y.data(), 527) == good_labels[size_t(i)]);
    CHECK(lm == logmel_of(load_clip((dir / good[i]).string(), fe), fe));  // float32 output: exact
  }

  // a finished output is up to date; --force rebuilds it
  PrepResult again = run_prep(clips, nullptr, config(out, 2, true));
  CHECK(again.up_to_date);
  CHECK(again.written == 0);
  PrepConfig force = config(out, 1, false);
  force.force = true;
  PrepResult rebuilt = run_prep(clips, nullptr, force);
  CHECK(rebuilt.written == 4);
  CHECK(rebuilt.failed == 5);
  CHECK_FALSE(SpectrogramReader(out.string()).float32());
}

TEST_CASE("prep resume: an interrupted run continues to the same file as an uninterrupted one", "[prep]") {
  fs::path dir = fresh_dir("resume");
  ClassLabels classes = read_class_labels(kLabels);
  std::vector<ManifestEntry> entries;
  for (int i = 0; i < 6; ++i) {
    std::string name = "clip" + std::to_string(i) + ".wav";
    write_audio(dir / name, 22050, 1, 1.0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 200.0 * (i + 1));
    entries.push_back({name, name, {i, 100 + i}, i + 1});
  }
  std::vector<PrepClip> clips = clips_from_manifest(entries, dir.string(), classes.size());
  const FrontEndConfig fe;

  fs::path whole = dir / "whole.h5", resumed = dir / "resumed.h5";
  PrepResult a = run_prep(clips, nullptr, config(whole, 1, false));
  CHECK(a.written == 6);

  {  // a run that stopped after two clips: a .partial that was never finished
    SpectrogramWriter w(resumed.string(), fe, 527, false, false, "test_prep");
    for (int i = 0; i < 2; ++i)
      w.append(clips[i].name, logmel_of(load_clip(clips[i].path, fe), fe).data(), clips[i].labels.data(),
               clips[i].path);
  }
  REQUIRE(fs::exists(resumed.string() + ".partial"));
  PrepResult b = run_prep(clips, nullptr, config(resumed, 3, false));
  CHECK(b.skipped == 2);
  CHECK(b.written == 4);
  CHECK(b.failed == 0);
  CHECK(b.finished);

  SpectrogramReader ra(whole.string()), rb(resumed.string());
  REQUIRE(ra.size() == 6);
  REQUIRE(rb.size() == 6);
  std::vector<float> la(size_t(fe.n_mels) * fe.frames()), lb(la.size());
  std::vector<uint8_t> ya(527), yb(527);
  for (int i = 0; i < 6; ++i) {
    CHECK(ra.name(i) == clips[i].name);
    CHECK(rb.name(i) == clips[i].name);
    ra.read(i, la.data(), ya.data());
    rb.read(i, lb.data(), yb.data());
    CHECK(la == lb);
    CHECK(label_indices(ya.data(), 527) == std::vector<int>{i, 100 + i});
    CHECK(ya == yb);
  }
  CHECK(run_prep(clips, nullptr, config(resumed, 3, false)).up_to_date);
}

TEST_CASE("prep --strict leaves a .partial when clips fail, and the next run writes nothing new", "[prep]") {
  fs::path dir = fresh_dir("strict");
  ClassLabels classes = read_class_labels(kLabels);
  write_audio(dir / "ok1.wav", 32000, 1, 1.0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 500);
  write_audio(dir / "ok2.flac", 32000, 1, 1.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 700);
  std::vector<ManifestEntry> entries = {{"ok1.wav", "ok1", {0}, 1}, {"gone.wav", "gone", {1}, 2},
                                        {"ok2.flac", "ok2", {2}, 3}};
  std::vector<PrepClip> clips = clips_from_manifest(entries, dir.string(), classes.size());
  fs::path out = dir / "out.h5";
  PrepConfig strict = config(out, 2, false);
  strict.strict = true;
  PrepResult first = run_prep(clips, nullptr, strict);
  CHECK(first.written == 2);
  CHECK(first.failed == 1);
  CHECK_FALSE(first.finished);
  CHECK_FALSE(fs::exists(out));
  CHECK(fs::exists(out.string() + ".partial"));

  PrepResult second = run_prep(clips, nullptr, config(out, 2, false));
  CHECK(second.skipped == 2);
  CHECK(second.written == 0);
  CHECK(second.failed == 1);
  CHECK(second.finished);
  CHECK(SpectrogramReader(out.string()).size() == 2);
  auto rows = read_tsv(out.string() + ".failed.tsv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[1] == std::vector<std::string>{"gone", (dir / "gone.wav").string(), "missing: no such file"});
}

TEST_CASE("prep from an official-format segments CSV and a folder of Y<YTID> audio files", "[prep]") {
  fs::path dir = fresh_dir("segments"), audio = dir / "audio";
  fs::create_directories(audio / "part01");
  write_audio(audio / "Y--PJHxphWEs.wav", 44100, 2, 10.0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 440);
  write_audio(audio / "part01" / "--ZhevVpy1s.flac", 32000, 1, 10.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 880);
  write_audio(audio / "Y--aE2O5G-kA.flac", 32000, 1, 2.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 300);
  write_audio(audio / "--aE2O5G-kA.wav", 32000, 1, 2.0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 600);  // the Y file wins
  write_bytes(audio / "notes.txt", "not audio, not looked at");
  std::ofstream(dir / "segments.csv") << "# Segments csv created Sun Mar  5 10:54:31 2017\n"
                                         "# num_ytids=4, num_segs=4, num_unique_labels=5, num_positive_labels=6\n"
                                         "# YTID, start_seconds, end_seconds, positive_labels\n"
                                         "--PJHxphWEs, 30.000, 40.000, \"/m/09x0r,/t/dd00088\"\n"
                                         "--ZhevVpy1s, 50.000, 60.000, \"/m/012xff\"\n"
                                         "--absent123, 0.000, 10.000, \"/m/04rlf\"\n"
                                         "--aE2O5G-kA, 30.000, 40.000, \"/m/0jbk,/m/0bt9lr\"\n";
  ClassLabels classes = read_class_labels(kLabels);
  SegmentList segs = read_segments_csv((dir / "segments.csv").string(), classes);
  REQUIRE(segs.segments.size() == 4);
  CHECK(segs.num_labels() == segs.header_labels);
  std::vector<PrepClip> clips = clips_from_segments(segs, audio.string(), classes.size());
  REQUIRE(clips.size() == 4);
  CHECK(clips[1].path == (audio / "part01" / "--ZhevVpy1s.flac").string());
  CHECK(clips[3].path == (audio / "Y--aE2O5G-kA.flac").string());
  CHECK(clips[2].missing == "missing: no audio file Y--absent123.* or --absent123.* under " + audio.string());

  fs::path out = dir / "out.h5";
  PrepResult res = run_prep(clips, nullptr, config(out, 2, false));
  CHECK(res.written == 3);
  CHECK(res.failed == 1);
  auto rows = read_tsv(out.string() + ".failed.tsv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[1][0] == "--absent123");
  CHECK(rows[1][2] == clips[2].missing);

  SpectrogramReader r(out.string());
  REQUIRE(r.size() == 3);
  const FrontEndConfig fe;
  std::vector<float> lm(size_t(fe.n_mels) * fe.frames());
  std::vector<uint8_t> y(527);
  const int rows_in_csv[] = {0, 1, 3};
  for (int i = 0; i < 3; ++i) {
    const Segment& s = segs.segments[size_t(rows_in_csv[i])];
    CHECK(r.name(i) == s.ytid);
    r.read(i, lm.data(), y.data());
    std::vector<int> want = s.labels;
    std::sort(want.begin(), want.end());
    CHECK(label_indices(y.data(), 527) == want);
  }
  // a folder without any of the audio (a wrong --audio-dir): an error, and no output file
  fs::create_directories(dir / "empty");
  fs::path none = dir / "none.h5";
  CHECK_THROWS_WITH(run_prep(clips_from_segments(segs, (dir / "empty").string(), 527), nullptr, config(none, 2, false)),
                    none.string() + ": none of the 4 clips could be read (all are listed in " + none.string() +
                        ".failed.tsv; the first: " + (dir / "empty" / "Y--PJHxphWEs.wav").string() +
                        ": missing: no audio file Y--PJHxphWEs.* or --PJHxphWEs.* under " + (dir / "empty").string() +
                        ")");
  CHECK_FALSE(fs::exists(none));
  CHECK_FALSE(fs::exists(none.string() + ".partial"));
  CHECK(read_tsv(none.string() + ".failed.tsv").size() == 5);
  CHECK_THROWS_WITH(clips_from_segments(segs, (dir / "nope").string(), 527),
                    (dir / "nope").string() + ": not a directory (the folder of the segments' audio)");
}

TEST_CASE("prep from a PANNs waveform HDF5 written by h5py", "[prep]") {
  PannsWaveformFile h5(ENGINE_TEST_DATA_DIR "/prep/panns_h5py.h5");
  REQUIRE(h5.size() == 2);
  CHECK(h5.name(0) == "Y--PJHxphWEs.wav");
  CHECK(h5.name(1) == "Y--ZhevVpy1s.wav");
  CHECK(h5.clip_samples() == 320000);
  CHECK(h5.num_classes() == 527);
  CHECK(h5.sample_rate() == 32000);
  std::vector<float> wave(320000);
  std::vector<uint8_t> target(527);
  h5.read(0, wave.data(), target.data());
  CHECK(label_indices(target.data(), 527) == std::vector<int>{0, 137});
  bool exact = true;  // the fixture's sawtooth: (n * 37) % 2001 - 1000 for n < 8000, then silence
  for (int n = 0; n < 320000; ++n)
    exact &= wave[size_t(n)] == (n < 8000 ? float((n * 37) % 2001 - 1000) / 32768.f : 0.f);
  CHECK(exact);
  h5.read(1, wave.data(), target.data());
  CHECK(label_indices(target.data(), 527) == std::vector<int>{72, 74});
  CHECK(wave[0] == -500.f / 32768.f);
  CHECK(wave[40] == 500.f / 32768.f);

  fs::path out = fresh_dir("panns_h5py") / "out.h5";
  PrepResult res = run_prep(clips_from_panns(h5), &h5, config(out, 2, true));
  CHECK(res.written == 2);
  CHECK(res.failed == 0);
  SpectrogramReader r(out.string());
  REQUIRE(r.size() == 2);
  const FrontEndConfig fe;
  std::vector<float> lm(size_t(fe.n_mels) * fe.frames());
  std::vector<uint8_t> y(527);
  r.read(1, lm.data(), y.data());
  CHECK(r.name(1) == "Y--ZhevVpy1s.wav");
  CHECK(label_indices(y.data(), 527) == std::vector<int>{72, 74});
  CHECK(lm == logmel_of(wave, fe));
}

// A PANNs-like file as another packer might write it: variable-length names, 16 kHz int16, float targets;
// `clip1_class5` (when given) is written into clip 1's target at class 5, e.g. a NaN.
static void write_panns_c_api(const std::string& path, int n, int samples, int rate, int K,
                              std::optional<float> clip1_class5 = std::nullopt) {
  auto lock = hdf5_lock();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hsize_t dn[1] = {hsize_t(n)}, dw[2] = {hsize_t(n), hsize_t(samples)}, dt[2] = {hsize_t(n), hsize_t(K)};
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  std::vector<std::string> names;
  std::vector<const char*> cnames;
  for (int i = 0; i < n; ++i) names.push_back("clip_" + std::to_string(i));
  for (const std::string& s : names) cnames.push_back(s.c_str());
  std::vector<int16_t> wave(size_t(n) * samples);  // (N, S): clip i is a square wave of period 20 * (i + 1)
  for (int i = 0; i < n; ++i)
    for (int s = 0; s < samples; ++s) wave[size_t(i) * samples + s] = (s / (10 * (i + 1))) % 2 ? 8000 : -8000;
  std::vector<float> target(size_t(n) * K, 0.f);  // (N, K): clip i has classes i and K - 1
  for (int i = 0; i < n; ++i) target[size_t(i) * K + i] = target[size_t(i) * K + K - 1] = 1.f;
  if (clip1_class5) target[size_t(K) + 5] = *clip1_class5;
  struct {
    const char* name;
    int rank;
    hsize_t* dims;
    hid_t type;
    const void* data;
  } sets[] = {{"audio_name", 1, dn, str, cnames.data()},
              {"waveform", 2, dw, H5T_NATIVE_INT16, wave.data()},
              {"target", 2, dt, H5T_NATIVE_FLOAT, target.data()}};
  for (auto& s : sets) {
    hid_t space = H5Screate_simple(s.rank, s.dims, nullptr);
    hid_t d = H5Dcreate2(f, s.name, s.type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Dwrite(d, s.type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data) >= 0);
    H5Dclose(d);
    H5Sclose(space);
  }
  hid_t scalar = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(f, "sample_rate", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  int64_t r = rate;
  H5Awrite(attr, H5T_NATIVE_INT64, &r);
  H5Aclose(attr);
  H5Sclose(scalar);
  H5Tclose(str);
  H5Fclose(f);
}

TEST_CASE("prep from a PANNs HDF5: a NaN or soft target fails that clip only, with the reason", "[prep]") {
  for (float bad : {std::nanf(""), 0.5f}) {
    fs::path dir = fresh_dir(std::isnan(bad) ? "panns_nan" : "panns_soft");
    std::string path = (dir / "waves.h5").string();
    write_panns_c_api(path, 3, 32000, 32000, 527, bad);
    PannsWaveformFile h5(path);
    fs::path out = dir / "out.h5";
    PrepResult res = run_prep(clips_from_panns(h5), &h5, config(out, 2, true));
    CHECK(res.written == 2);
    CHECK(res.failed == 1);
    SpectrogramReader r(out.string());
    REQUIRE(r.size() == 2);
    CHECK(r.name(0) == "clip_0");
    CHECK(r.name(1) == "clip_2");
    std::string report = read_bytes(out.string() + ".failed.tsv");
    CHECK_THAT(report, Catch::Contains("clip_1"));
    CHECK_THAT(report, Catch::Contains(std::isnan(bad) ? "holds nan at class 5 (expected 0 or 1)"
                                                       : "holds 0.5 at class 5 (expected 0 or 1)"));
  }
}

// A file with datasets audio_name, waveform and target of the given types (2 clips, no data written: the
// reader refuses the types before it reads a row).
static void write_panns_types(const std::string& path, hid_t name_type, hid_t wave_type, hid_t target_type) {
  auto lock = hdf5_lock();
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hsize_t dn[1] = {2}, dw[2] = {2, 320}, dt[2] = {2, 527};
  const std::tuple<const char*, int, hsize_t*, hid_t> sets[] = {
      {"audio_name", 1, dn, name_type}, {"waveform", 2, dw, wave_type}, {"target", 2, dt, target_type}};
  for (auto& [name, rank, dims, type] : sets) {
    hid_t space = H5Screate_simple(rank, dims, nullptr);
    hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(d >= 0);
    H5Dclose(d);
    H5Sclose(space);
  }
  H5Fclose(f);
}

TEST_CASE("a PANNs HDF5 whose number or string types claim absurd sizes is refused before any read", "[prep]") {
  // A damaged datatype message can claim gigabytes (the fuzzer found a 4 GB float): libhdf5 would allocate a
  // conversion buffer of that size on the first read.
  fs::path dir = fresh_dir("panns_types");
  std::string path = (dir / "waves.h5").string();
  hid_t name20 = H5Tcopy(H5T_C_S1), name_huge = H5Tcopy(H5T_C_S1), float_huge = H5Tcopy(H5T_NATIVE_FLOAT);
  H5Tset_size(name20, 20);
  H5Tset_size(name_huge, 100000);
  REQUIRE(H5Tset_size(float_huge, 64) >= 0);
  write_panns_types(path, name20, float_huge, H5T_NATIVE_UINT8);
  CHECK_THROWS_WITH(PannsWaveformFile(path), path + ": dataset 'waveform' must hold int16 PCM (or float)");
  write_panns_types(path, name20, H5T_NATIVE_INT16, float_huge);
  CHECK_THROWS_WITH(PannsWaveformFile(path), path + ": dataset 'target' must hold bool, integer or float values");
  write_panns_types(path, name_huge, H5T_NATIVE_INT16, H5T_NATIVE_UINT8);
  CHECK_THROWS_WITH(PannsWaveformFile(path),
                    path + ": dataset 'audio_name' holds strings of 100000 bytes (expected at most 4096)");
  write_panns_types(path, name20, H5T_NATIVE_FLOAT, H5T_NATIVE_UINT8);
  CHECK(PannsWaveformFile(path).size() == 2);
  for (hid_t t : {name20, name_huge, float_huge}) H5Tclose(t);
}

TEST_CASE("prep from a PANNs-style HDF5 written with the HDF5 C API: 16 kHz, float targets", "[prep]") {
  fs::path dir = fresh_dir("panns_c");
  std::string path = (dir / "waves.h5").string();
  write_panns_c_api(path, 3, 160000, 16000, 527);
  PannsWaveformFile h5(path);
  REQUIRE(h5.size() == 3);
  CHECK(h5.name(2) == "clip_2");
  CHECK(h5.sample_rate() == 16000);

  fs::path out = dir / "out.h5";
  PrepResult res = run_prep(clips_from_panns(h5), &h5, config(out, 2, true));
  CHECK(res.written == 3);
  SpectrogramReader r(out.string());
  REQUIRE(r.size() == 3);
  const FrontEndConfig fe;
  std::vector<float> lm(size_t(fe.n_mels) * fe.frames()), wave(160000);
  std::vector<uint8_t> y(527), target(527);
  for (int i = 0; i < 3; ++i) {
    CHECK(r.name(i) == "clip_" + std::to_string(i));
    CHECK(r.source(i) == path);
    r.read(i, lm.data(), y.data());
    CHECK(label_indices(y.data(), 527) == std::vector<int>{i, 526});
    h5.read(i, wave.data(), target.data());
    std::vector<float> at32k = resample(wave, 16000, 32000);  // 16 kHz -> the front end's 32 kHz
    pad_or_truncate(at32k, size_t(fe.clip_samples));
    CHECK(lm == logmel_of(at32k, fe));
  }

  write_bytes(dir / "text.h5", "not hdf5");
  CHECK_THROWS_WITH(PannsWaveformFile((dir / "text.h5").string()), (dir / "text.h5").string() + ": not an HDF5 file");
  CHECK_THROWS_WITH(PannsWaveformFile(out.string()),
                    out.string() + ": no dataset 'audio_name' (expected a PANNs waveform file: audio_name, waveform, "
                                   "target)");
}
