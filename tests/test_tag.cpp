// engine_tag's library (tag/): window plan and timing on a 35 s recording, pooling, segment merging on a
// synthetic score track, the pipeline against a direct computation and against engine_eval's path
// (engine_prep -> HDF5 -> loader), bad and mixed files, and the JSON/CSV output parsed back.
#include <catch2/catch.hpp>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/audio_io.h"
#include "data/audioset_csv.h"
#include "data/loader.h"
#include "data/logmel.h"
#include "data/model_input.h"
#include "data/prep.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "models/model_info.h"
#include "models/audio_model.h"
#include "models/fastvit.h"
#include "ops/activation.h"
#include "tag/cli.h"
#include "tag/output.h"
#include "tag/tagger.h"
#include "tag/windows.h"
#include "train/evaluate.h"
#include "tests/harness/audio_file.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::tag;
namespace fs = std::filesystem;
using test::read_bytes;
using test::write_audio;
using test::write_bytes;

namespace {

constexpr int kRate = 32000;

std::shared_ptr<models::AudioTagger> small_model() {
  models::ModelConfig c = models::default_config("convnext_audio_tiny");
  c.depths = {1, 1, 1, 1};
  c.dims = {4, 8, 12, 16};
  c.seed = 3;
  return models::create_model(c);
}

// A recording whose content changes over time: a tone gliding 200 Hz -> 8 kHz, with a noise burst every 3 s.
std::vector<float> recording(double seconds, int rate) {
  std::vector<float> x(size_t(seconds * rate));
  double phase = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = double(i) / rate, f = 200.0 * std::pow(40.0, t / seconds);
    phase += 2 * M_PI * f / rate;
    const bool burst = std::fmod(t, 3.0) < 0.4;
    x[i] = float(0.3 * std::sin(phase) + (burst ? 0.2 * (philox_uniform(11, 0, i) - 0.5) : 0.0));
  }
  return x;
}

// The model's probabilities for samples [from, from + 10 s) of x, zero-padded past its end: the front end
// and the model applied directly, without the tagger.
std::vector<float> direct_scores(models::AudioTagger& model, const std::vector<float>& x, size_t from) {
  const data::FrontEndConfig fe;
  std::vector<float> clip(size_t(fe.clip_samples), 0.f);
  for (size_t i = 0; i < clip.size() && from + i < x.size(); ++i) clip[i] = x[from + i];
  std::vector<float> mel(size_t(fe.n_mels) * fe.frames());
  data::LogMel(fe).compute(clip.data(), mel.data());
  data::normalise_logmel(mel.data(), int64_t(mel.size()), data::kInputMean, data::kInputStd);
  model.eval();
  autograd::NoGradGuard no_grad;
  Generator unused(0);
  return ops::sigmoid(model.forward(Tensor::from_vector(mel, {1, fe.n_mels, fe.frames(), 1}), unused)).to_vector<float>();
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

std::vector<FileTags> tag_all(Tagger& tagger, const std::vector<std::string>& files) {
  std::vector<FileTags> out;
  tagger.run(files, [&](size_t i, FileTags& t) {
    CHECK(i == out.size());  // in input order
    out.push_back(t);
  });
  return out;
}

}  // namespace

TEST_CASE("tag: window plan of a 35 s recording (count, start/end times, the padded last window)", "[tag]") {
  const WindowPlan p5 = make_window_plan(320000, 5.0, kRate);
  const int64_t S = 35 * kRate;
  REQUIRE(p5.count(S) == 6);  // 0-10, 5-15, ..., 25-35: the last one ends at the recording's end
  for (int64_t k = 0; k < 6; ++k) {
    CHECK(p5.start_s(k) == 5.0 * double(k));
    CHECK(p5.end_s(k, S) == 5.0 * double(k) + 10.0);
  }
  const WindowPlan p4 = make_window_plan(320000, 4.0, kRate);
  REQUIRE(p4.count(S) == 8);  // 0, 4, ..., 28: the last covers 28-35 and 3 s of zero padding
  CHECK(p4.start_s(7) == 28.0);
  CHECK(p4.end_s(7, S) == 35.0);
  CHECK(p4.start(6) + p4.window < S);
  CHECK(p4.start(7) + p4.window > S);
  CHECK(p5.count(3 * kRate) == 1);  // short: one padded window
  CHECK(p5.end_s(0, 3 * kRate) == 3.0);
  CHECK(p5.count(320000) == 1);
  CHECK(p5.count(320001) == 2);
  CHECK_THROWS_AS(make_window_plan(320000, 0.0, kRate), UserError);
  CHECK_THROWS_AS(make_window_plan(320000, 10.5, kRate), UserError);
}

TEST_CASE("tag: pooling and segment merging on a synthetic score track", "[tag]") {
  // 6 windows (hop 5 s) of a 35 s recording, 3 classes, row-major (window, class).
  const WindowPlan p = make_window_plan(320000, 5.0, kRate);
  const int K = 3;
  const std::vector<float> s = {
      0.9f, 0.1f, 0.2f,  // 0-10
      0.8f, 0.1f, 0.2f,  // 5-15
      0.1f, 0.1f, 0.2f,  // 10-20
      0.6f, 0.1f, 0.7f,  // 15-25
      0.7f, 0.1f, 0.6f,  // 20-30
      0.2f, 0.1f, 0.9f,  // 25-35
  };
  const std::vector<float> mx = pool_windows(s, 6, K, Pooling::max), mean = pool_windows(s, 6, K, Pooling::mean);
  CHECK(mx == std::vector<float>{0.9f, 0.1f, 0.9f});
  CHECK(mean[0] == Approx(3.3 / 6));
  CHECK(mean[2] == Approx(2.8 / 6));
  const auto segs = merge_segments(s, p, 35 * kRate, K, {0, 1, 2}, 0.5f);
  REQUIRE(segs.size() == 3);  // by start time
  CHECK((segs[0].cls == 0 && segs[0].start_s == 0.0 && segs[0].end_s == 15.0 && segs[0].peak == 0.9f));
  CHECK((segs[1].cls == 0 && segs[1].start_s == 15.0 && segs[1].end_s == 30.0 && segs[1].peak == 0.7f));
  CHECK((segs[2].cls == 2 && segs[2].start_s == 15.0 && segs[2].end_s == 35.0 && segs[2].peak == 0.9f));
  CHECK(merge_segments(s, p, 35 * kRate, K, {1}, 0.5f).empty());
  // A recording of 33 s: the last window's segment ends at the recording's end, not at 35 s.
  CHECK(merge_segments(s, p, 33 * kRate, K, {2}, 0.5f).back().end_s == 33.0);
}

TEST_CASE("tag: a 35 s file is tagged window by window exactly as the model scores each window alone", "[tag]") {
  test::TempDir dir("tag_windows");
  const std::vector<float> x = recording(35.0, kRate);
  write_audio(dir.file("long.wav"), x, 1, kRate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  auto model = small_model();
  TagOptions opt;
  opt.hop_s = 4.0;
  opt.batch = 3;  // batches cut across windows
  Tagger tagger(model, data::ModelInput{}, opt);
  const auto tags = tag_all(tagger, {dir.file("long.wav")});
  REQUIRE(tags.size() == 1);
  const FileTags& t = tags[0];
  REQUIRE(t.error.empty());
  CHECK(t.samples == int64_t(x.size()));
  CHECK(t.duration_s == 35.0);
  REQUIRE(t.windows == 8);
  const int K = 527;
  REQUIRE(t.scores.size() == size_t(8 * K));
  for (int64_t k : {0, 1, 6, 7}) {  // 7: 28-35 s and 3 s of zeros
    const std::vector<float> d = direct_scores(*model, x, size_t(k * 4 * kRate));
    INFO("window " << k);
    CHECK(max_abs_diff(t.scores.data() + k * K, d.data(), size_t(K)) < 1e-6);
  }
  // The windows differ (the recording changes), so a mix-up of windows would show.
  CHECK(max_abs_diff(t.scores.data(), t.scores.data() + 7 * K, size_t(K)) > 1e-4);
}

TEST_CASE("tag: a file's scores equal engine_eval's path (engine_prep -> HDF5 -> loader -> model)", "[tag]") {
  test::TempDir dir("tag_eval");
  const std::vector<float> x = recording(10.0, kRate);
  write_audio(dir.file("clip.wav"), x, 1, kRate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  data::PrepClip clip;
  clip.name = "clip";
  clip.path = dir.file("clip.wav");
  clip.labels.assign(527, 0);
  clip.labels[0] = 1;
  data::PrepConfig pc;
  pc.output = dir.file("clip.h5");
  pc.float32 = true;  // the loader then reads the front end's values unrounded
  pc.progress = false;
  REQUIRE(data::run_prep({clip}, nullptr, pc).finished);
  data::LoaderConfig lc;
  lc.path = pc.output;
  lc.batch_size = 1;
  lc.shuffle = false;
  lc.drop_last = false;
  lc.workers = 0;
  data::Loader loader(lc);
  data::Batch b;
  REQUIRE(loader.next(b));
  auto model = small_model();
  model->eval();
  std::vector<float> eval_scores;
  {
    autograd::NoGradGuard no_grad;
    Generator unused(0);
    eval_scores = ops::sigmoid(model->forward(b.x, unused)).to_vector<float>();
  }
  Tagger tagger(model, data::ModelInput{}, TagOptions{});
  const auto tags = tag_all(tagger, {dir.file("clip.wav")});
  REQUIRE(tags.size() == 1);
  REQUIRE(tags[0].windows == 1);
  CHECK(max_abs_diff(tags[0].scores.data(), eval_scores.data(), 527) == 0.0);
}

TEST_CASE("tag: bad files are reported and skipped; mixed formats, rates and channel counts are tagged", "[tag]") {
  test::TempDir dir("tag_files");
  const std::vector<float> x16 = recording(4.0, 16000), x48 = recording(12.0, 48000), x22 = recording(6.0, 22050);
  std::vector<float> stereo(2 * x48.size());
  for (size_t i = 0; i < x48.size(); ++i) stereo[2 * i] = x48[i], stereo[2 * i + 1] = -x48[i] * 0.5f;
  write_audio(dir.file("a16k.wav"), x16, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_audio(dir.file("b48k_stereo.flac"), stereo, 2, 48000, SF_FORMAT_FLAC | SF_FORMAT_PCM_24);
  write_audio(dir.file("c22k.ogg"), x22, 1, 22050, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  write_audio(dir.file("full.wav"), recording(10.0, kRate), 1, kRate, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_bytes(dir.file("truncated.wav"), read_bytes(dir.file("full.wav")).substr(0, 20000));
  write_bytes(dir.file("empty.wav"), "");
  write_bytes(dir.file("text.wav"), "this is not audio\n");
  const std::vector<std::string> files = {dir.file("a16k.wav"),  dir.file("truncated.wav"), dir.file("b48k_stereo.flac"),
                                          dir.file("empty.wav"), dir.file("c22k.ogg"),      dir.file("text.wav"),
                                          dir.file("missing.wav")};
  TagOptions opt;
  opt.jobs = 3;
  Tagger tagger(small_model(), data::ModelInput{}, opt);
  const auto tags = tag_all(tagger, files);
  REQUIRE(tags.size() == files.size());
  for (size_t i = 0; i < files.size(); ++i) CHECK(tags[i].path == files[i]);
  auto ok = [&](size_t i, int rate, int channels, double seconds, int64_t windows) {
    INFO(files[i] << ": " << tags[i].error);
    CHECK(tags[i].error.empty());
    CHECK(tags[i].sample_rate == rate);
    CHECK(tags[i].channels == channels);
    CHECK(tags[i].duration_s == Approx(seconds).margin(1e-6));
    CHECK(tags[i].windows == windows);
    CHECK(tags[i].scores.size() == size_t(windows * 527));
  };
  ok(0, 16000, 1, 4.0, 1);
  ok(2, 48000, 2, 12.0, 2);
  ok(4, 22050, 1, 6.0, 1);
  auto failed = [&](size_t i, const std::string& reason) {
    INFO(files[i] << ": " << tags[i].error);
    CHECK(tags[i].error.rfind(files[i] + ": ", 0) == 0);
    CHECK(tags[i].error.find(reason) != std::string::npos);
    CHECK(tags[i].scores.empty());
  };
  failed(1, "truncated");
  failed(3, "empty file");
  failed(5, "not a readable audio file");
  failed(6, "cannot open audio file");
  // The same file gives the same scores whichever files surround it.
  Tagger alone(small_model(), data::ModelInput{}, TagOptions{});
  CHECK(tag_all(alone, {files[2]})[0].scores == tags[2].scores);
}

TEST_CASE("tag: JSON Lines and CSV output parse back and hold every file, labels restricted", "[tag]") {
  const WindowPlan plan = make_window_plan(320000, 5.0, kRate);
  std::vector<std::string> mids, names;
  train::class_table(527, mids, names);
  FileTags a;
  a.path = "dir/a, with comma.wav";
  a.sample_rate = 44100;
  a.channels = 2;
  a.samples = 15 * kRate;
  a.duration_s = 15.0;
  a.windows = 2;
  a.scores.assign(2 * 527, 0.01f);
  a.scores[0] = 0.9f;          // Speech in window 0
  a.scores[527 + 0] = 0.7f;    // and window 1
  a.scores[527 + 137] = 0.8f;  // Music in window 1
  a.scores[1] = 0.95f;         // Male speech, man speaking: outside the allowed classes below
  FileTags bad;
  bad.path = "b.wav";
  bad.error = "b.wav: empty file (0 bytes)";
  OutputOptions o;
  o.top_k = 2;
  o.windows = true;
  o.segments = true;
  o.classes = {0, 137, 300};
  for (Format f : {Format::json, Format::csv}) {
    o.format = f;
    std::string text;
    TagWriter w(o, plan, mids, names, [&](const std::string& s) { text += s; });
    w.begin();
    w.write(a);
    w.write(bad);
    std::istringstream in(text);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(line);
    if (f == Format::json) {
      REQUIRE(lines.size() == 2);
      const auto ja = nlohmann::json::parse(lines[0]), jb = nlohmann::json::parse(lines[1]);
      CHECK(ja["file"] == a.path);
      CHECK(ja["windows"] == 2);
      REQUIRE(ja["labels"].size() == 2);
      CHECK(ja["labels"][0]["name"] == "Speech");
      CHECK(ja["labels"][0]["score"] == Approx(0.9));
      CHECK(ja["labels"][1]["name"] == "Music");
      REQUIRE(ja["window_labels"].size() == 2);
      CHECK(ja["window_labels"][1]["start_s"] == Approx(5.0));
      CHECK(ja["window_labels"][1]["end_s"] == Approx(15.0));
      CHECK(ja["window_labels"][1]["labels"][0]["name"] == "Music");
      REQUIRE(ja["segments"].size() == 2);  // Speech 0-15 (peak 0.9), Music 5-15 (peak 0.8)
      CHECK(ja["segments"][0]["name"] == "Speech");
      CHECK(ja["segments"][0]["end_s"] == Approx(15.0));
      CHECK(ja["segments"][1]["name"] == "Music");
      CHECK(ja["segments"][1]["start_s"] == Approx(5.0));
      CHECK(jb["file"] == "b.wav");
      CHECK(jb["error"] == bad.error);
    } else {
      REQUIRE(lines.size() == 1 + 2 + 4 + 2 + 1);  // header, clip x2, window x2 x2, segment x2, error
      CHECK(lines[0] == "file,kind,start_s,end_s,rank,index,mid,display_name,score,error");
      std::vector<std::vector<std::string>> rows;
      for (size_t i = 1; i < lines.size(); ++i) {
        rows.push_back(data::split_csv_line(lines[i], "csv"));
        CHECK(rows.back().size() == 10);
      }
      CHECK(rows[0][0] == a.path);
      CHECK(rows[0][1] == "clip");
      CHECK(rows[0][7] == "Speech");
      CHECK(rows[6][1] == "segment");
      CHECK(rows.back()[0] == "b.wav");
      CHECK(rows.back()[1] == "error");
      CHECK(rows.back()[9] == bad.error);
      for (const auto& r : rows) CHECK(r[7] != "Male speech, man speaking");
    }
  }
}

TEST_CASE("tag: FastViT is tagged in its reparameterized form, with the unfused model's scores", "[tag]") {
  models::ModelConfig c = models::default_config("fastvit_dcls_audio_sa24");
  c.depths = {1, 1, 1, 1};
  c.dims = {8, 16, 32, 64};
  c.seed = 5;
  auto model = models::create_model(c);
  test::TempDir dir("tag_fastvit");
  const std::vector<float> x = recording(10.0, kRate);
  write_audio(dir.file("clip.wav"), x, 1, kRate, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const std::vector<float> unfused = direct_scores(*model, x, 0);
  Tagger tagger(model, data::ModelInput{}, TagOptions{});
  const auto* fused = dynamic_cast<const models::FastViT*>(&tagger.model());
  REQUIRE(fused != nullptr);
  CHECK(fused->fused());
  const auto tags = tag_all(tagger, {dir.file("clip.wav")});
  REQUIRE(tags[0].error.empty());
  // Fusion reorders float sums (docs/models.md: fused equals unfused within 1e-5 relative).
  CHECK(max_abs_diff(tags[0].scores.data(), unfused.data(), 527) < 1e-5);
}

namespace {

int tag_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "engine_tag");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return tag_app(int(argv.size()), argv.data());
}

// UserError whose one-line message contains `what`.
void expect_user_error(const std::vector<std::string>& args, const std::string& what) {
  try {
    tag_cli(args);
    FAIL("no error for " << what);
  } catch (const UserError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("tag: engine_tag's command line: exit codes, bad options, output complete or absent", "[tag]") {
  test::TempDir dir("tag_cli");
  auto model = small_model();
  save_module(*model, dir.file("model.safetensors"), models::model_metadata(model->config()));
  write_audio(dir.file("a.wav"), recording(12.0, kRate), 1, kRate, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_bytes(dir.file("bad.wav"), "not audio");
  fs::create_directories(dir.file("sub/deeper"));
  write_audio(dir.file("sub/deeper/b.flac"), recording(3.0, 44100), 1, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_bytes(dir.file("sub/notes.txt"), "not an audio file: folders contribute audio extensions only");
  std::ofstream(dir.file("list.txt")) << "# clips\na.wav\n\nsub/deeper/b.flac\n";
  std::ofstream(dir.file("labels.txt")) << "Speech\n/m/04rlf\nMale speech, man speaking; Dog\n";
  std::ofstream(dir.file("bad_labels.txt")) << "Speech\nNo such class\n";
  const std::string ck = dir.file("model.safetensors");

  // Every file tagged: 0; the folder is searched recursively; the list resolves relative paths.
  const std::string out = dir.file("out.jsonl");
  CHECK(tag_cli({"-q", "--checkpoint", ck, dir.file("a.wav"), dir.file("sub"), "--format", "json", "-o", out}) == 0);
  std::vector<nlohmann::json> lines;
  {
    std::ifstream in(out);
    for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  }
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["windows"] == 2);
  CHECK(lines[1]["file"] == dir.file("sub/deeper/b.flac"));
  CHECK(lines[1]["sample_rate"] == 44100);
  CHECK(tag_cli({"-q", "--checkpoint", ck, "--list", dir.file("list.txt"), "--labels", dir.file("labels.txt"),
                 "--format", "csv", "-o", dir.file("list.csv")}) == 0);
  {
    std::ifstream in(dir.file("list.csv"));
    int rows = 0;
    for (std::string l; std::getline(in, l); ++rows)
      if (rows > 0) CHECK(std::set<std::string>{"Speech", "Music", "Male speech, man speaking", "Dog"}.count(
                              data::split_csv_line(l, "csv")[7]) == 1);
    CHECK(rows == 1 + 2 * 4);  // 4 allowed classes, all shown (top 5)
  }
  // A bad file: reported, the others tagged, exit 1.
  CHECK(tag_cli({"-q", "--checkpoint", ck, dir.file("a.wav"), dir.file("bad.wav"), "-o", dir.file("mixed.txt")}) == 1);
  const std::string mixed = read_bytes(dir.file("mixed.txt"));
  CHECK(mixed.find(dir.file("a.wav") + "  12.0 s") != std::string::npos);
  CHECK(mixed.find(dir.file("bad.wav") + "  error: ") != std::string::npos);

  // User errors: one line, nothing written.
  const std::string none = dir.file("none.txt");
  expect_user_error({"--checkpoint", ck, "-o", none}, "no audio to tag");
  expect_user_error({"--checkpoint", dir.file("missing.safetensors"), dir.file("a.wav"), "-o", none}, "no such file");
  expect_user_error({"--checkpoint", ck, dir.file("a.wav"), "--hop", "12", "-o", none}, "--hop 12");
  expect_user_error({"--checkpoint", ck, dir.file("a.wav"), "--labels", dir.file("bad_labels.txt"), "-o", none},
                    "bad_labels.txt:2: unknown label 'No such class'");
  expect_user_error({"--checkpoint", ck, "--list", dir.file("nolist.txt"), "-o", none}, "--list");
  expect_user_error({"--checkpoint", dir.file("a.wav"), dir.file("a.wav"), "-o", none}, "a.wav");
  CHECK_FALSE(fs::exists(none));
}
