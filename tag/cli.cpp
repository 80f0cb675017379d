// engine_tag's command line: inputs, options, progress and the exit code; see cli.h.
#include "tag/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "data/audioset_csv.h"
#include "engine/atomic_file.h"
#include "engine/check.h"
#include "engine/memory.h"
#include "engine/progress.h"
#include "tag/output.h"
#include "tag/tagger.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"

namespace engine::tag {

namespace fs = std::filesystem;

namespace {

// What a folder contributes: files with these extensions (any case), the formats libsndfile reads.
const std::set<std::string> kAudioExtensions = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff",
                                                ".aif", ".aifc", ".au", ".caf", ".w64", ".rf64"};

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Audio files under a folder, recursively, sorted by path (so the output order does not depend on the file
// system's).
std::vector<std::string> audio_files_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  USER_CHECK(!ec, dir.string(), ": cannot list the folder (", ec.message(), ")");
  for (; it != end; it.increment(ec)) {
    if (ec) user_error(dir.string(), ": cannot list the folder (", ec.message(), ")");
    if (it->is_regular_file(ec) && kAudioExtensions.count(lower(it->path().extension().string())))
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A list of files: engine_prep's manifests (.csv, .jsonl, .json; labels, if any, are not used), or anything
// else as one path per line ('#' starts a comment). Relative paths are relative to the list's folder.
std::vector<std::string> files_of_list(const std::string& path) {
  USER_CHECK(fs::is_regular_file(path), "--list ", path, ": no such file");
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (base / p).string(); };
  std::vector<std::string> out;
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext == ".csv" || ext == ".jsonl" || ext == ".json") {
    for (const auto& e : data::read_manifest(path, data::audioset_class_labels())) out.push_back(resolve(e.path));
    return out;
  }
  std::ifstream in(path);
  USER_CHECK(in, "--list ", path, ": cannot read it");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t b = 0;
    while (b < line.size() && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
    if (b < line.size() && line[b] != '#') out.push_back(resolve(line.substr(b)));
  }
  return out;
}

// --labels FILE: class names or MIDs, one or more per line (',' or ';' between them) -> sorted class indices.
std::vector<int> allowed_classes(const std::string& path, int K) {
  std::vector<int> all(static_cast<size_t>(K));
  for (int c = 0; c < K; ++c) all[size_t(c)] = c;
  if (path.empty()) return all;
  USER_CHECK(K == 527, "--labels: the model has ", K, " classes, not AudioSet's 527; its classes have no names");
  std::ifstream in(path);
  USER_CHECK(in, "--labels ", path, ": cannot read it");
  std::set<int> chosen;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t\r")] == '#') continue;
    for (int c : data::audioset_class_labels().parse_list(line, path + ":" + std::to_string(n))) chosen.insert(c);
  }
  USER_CHECK(!chosen.empty(), "--labels ", path, ": names no class");
  return std::vector<int>(chosen.begin(), chosen.end());
}

std::string describe_rate(double audio_s, double wall_s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0fx real time", wall_s > 0 ? audio_s / wall_s : 0.0);
  return buf;
}

}  // namespace

int tag_app(int argc, char** argv) {
  CLI::App app{
      "engine_tag: AudioSet labels for audio files and folders with a trained model.\n"
      "Any format libsndfile reads (wav, flac, ogg, opus, mp3, aiff, ...), any rate and channel count, turned into\n"
      "the model's input by the front end it was trained with. Long recordings are tagged in windows of the\n"
      "model's input length (10 s) every --hop seconds; a file's labels pool the windows (--pool); --windows and\n"
      "--segments show them over time. Output goes to stdout or -o FILE (complete or absent). Progress and\n"
      "errors go to stderr; a file that cannot be read is reported and skipped.\n"
      "Exit codes: 0 every file tagged, 1 some files failed (the others tagged), 2 usage error, 3 internal error."};
  std::string checkpoint, model_name, device = "auto", format = "text", output, labels_file, list, pool = "max";
  std::vector<std::string> inputs;
  double hop = 5.0, threshold = NAN;
  int top_k = 5, batch = 8, jobs = 2;
  bool ema = false, windows = false, segments = false, quiet = false;
  app.add_option("--checkpoint", checkpoint,
                 "weights file (.safetensors: ours, or a converted PyTorch one with --model), checkpoint directory "
                 "or run directory (its checkpoint-best)")
      ->required();
  app.add_option("audio", inputs, "audio files and folders (searched recursively for audio files)");
  app.add_option("--list", list, "a file listing audio paths, one per line, or an engine_prep manifest (.csv/.jsonl/.json)");
  app.add_option("--model", model_name, "model name, for weights files that do not record it (engine_models --list)");
  app.add_flag("--ema", ema, "use the EMA weights of a checkpoint directory");
  app.add_option("--format", format, "text, json (JSON Lines: one object per file) or csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json", "csv"}));
  app.add_option("-o,--output", output, "write to this file instead of stdout");
  app.add_option("-k,--top-k", top_k, "labels per file (and per window)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threshold", threshold,
                 "print every label scoring at least this (instead of the top k); also the --segments threshold "
                 "(default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--labels", labels_file, "only these classes: a file of display names or MIDs (one or more a line)");
  app.add_option("--hop", hop, "seconds between window starts (at most the window, 10 s)")
      ->capture_default_str();
  app.add_option("--pool", pool, "a file's score of a class from its windows: max or mean")
      ->capture_default_str()
      ->check(CLI::IsMember({"max", "mean"}));
  app.add_flag("--windows", windows, "also print the labels of every window with its start and end time");
  app.add_flag("--segments", segments, "also print time segments: consecutive windows at or above the threshold, merged");
  app.add_option("--batch", batch, "windows per forward pass")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--jobs", jobs, "files decoded at the same time")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--device", device, "cpu, cuda or auto")
      ->capture_default_str()->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_flag("-q,--quiet", quiet, "no progress or summary on stderr (errors are still printed)");
  CLI11_PARSE(app, argc, argv);

  // Inputs first: a mistake there costs nothing yet.
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found = audio_files_under(in);
      if (found.empty()) std::fprintf(stderr, "engine_tag: %s: no audio files in this folder\n", in.c_str());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);  // a missing or unreadable file is reported with the others
    }
  }
  if (!list.empty()) {
    std::vector<std::string> listed = files_of_list(list);
    files.insert(files.end(), listed.begin(), listed.end());
  }
  USER_CHECK(!files.empty(), "no audio to tag: give files or folders, or --list FILE");

  USER_CHECK(device != "cuda" || cuda_available(), "--device cuda: no CUDA device (or the engine was built without CUDA)");
  const train::CheckpointModel ck = train::load_checkpoint_model(checkpoint, model_name, ema);
  const int K = ck.model->config().num_classes;

  TagOptions topt;
  topt.hop_s = hop;
  topt.batch = batch;
  topt.jobs = jobs;
  topt.device = device == "cpu" || !cuda_available() ? Device::CPU : Device::CUDA;
  int64_t windows_done = 0;
  topt.on_batch = [&](int64_t n) { windows_done += n; };
  Tagger tagger(ck.model, ck.input, topt);

  OutputOptions oopt;
  oopt.format = parse_format(format);
  oopt.top_k = top_k;
  oopt.use_threshold = !std::isnan(threshold);
  oopt.threshold = oopt.use_threshold ? float(threshold) : 0.5f;
  oopt.pooling = parse_pooling(pool);
  oopt.windows = windows;
  oopt.segments = segments;
  oopt.classes = allowed_classes(labels_file, K);
  std::vector<std::string> mids, names;
  train::class_table(K, mids, names);

  std::unique_ptr<AtomicFile> out_file;
  if (!output.empty()) out_file = std::make_unique<AtomicFile>(output);
  TagWriter writer(oopt, tagger.plan(), mids, names, [&](const std::string& s) {
    if (out_file) {
      out_file->write(s.data(), s.size());
    } else {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    }
  });

  if (!quiet)
    std::fprintf(stderr, "engine_tag: %s (%lld parameters) from %s on %s, %zu file%s\n", tagger.model().name().c_str(),
                 (long long)tagger.model().num_parameters(), ck.weights.c_str(),
                 topt.device == Device::CPU ? "the CPU" : "CUDA", files.size(), files.size() == 1 ? "" : "s");
  ProgressLine progress(!quiet, 10.0);
  size_t done = 0, failed = 0;
  double audio_s = 0;
  auto progress_text = [&] {
    const double t = progress.elapsed();
    const double rate = t > 0 ? double(done) / t : 0;
    char buf[256];
    std::snprintf(buf, sizeof buf, "engine_tag: %zu/%zu files (%zu failed), %s of audio, %lld windows, %s, ETA %s",
                  done, files.size(), failed, format_duration(audio_s).c_str(), (long long)windows_done,
                  describe_rate(audio_s, t).c_str(),
                  rate > 0 ? format_duration(double(files.size() - done) / rate).c_str() : "?");
    return std::string(buf);
  };
  writer.begin();
  tagger.run(files, [&](size_t, FileTags& t) {
    ++done;
    if (!t.error.empty()) {
      ++failed;
      std::fprintf(stderr, "engine_tag: %s\n", t.error.c_str());
    } else {
      audio_s += t.duration_s;
    }
    writer.write(t);
    progress.update(progress_text(), false);
  });
  if (out_file) out_file->commit();
  if (!quiet) {
    const double t = progress.elapsed();
    std::fprintf(stderr, "engine_tag: tagged %zu of %zu files (%zu failed), %s of audio in %.1f s: %.1f files/s, %s\n",
                 done - failed, files.size(), failed, format_duration(audio_s).c_str(), t, t > 0 ? done / t : 0.0,
                 describe_rate(audio_s, t).c_str());
  }
  return failed ? 1 : 0;
}

}  // namespace engine::tag
