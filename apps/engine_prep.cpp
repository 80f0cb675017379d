// engine_prep: AudioSet-style audio -> log-mel spectrogram HDF5 for training and evaluation (docs/prep.md).
// Three inputs: a folder of audio plus an official segments CSV, a manifest (CSV, JSONL, AST JSON), or a
// PANNs waveform HDF5. Multi-threaded, resumable, and one bad clip never stops the run.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "data/audioset_csv.h"
#include "data/panns_h5.h"
#include "data/prep.h"
#include "data/spectrogram_check.h"
#include "engine/app_main.h"
#include "engine/check.h"

using namespace engine;
using namespace engine::data;
namespace fs = std::filesystem;

static int run(int argc, char** argv) {
  CLI::App app{"engine_prep: audio clips -> log-mel spectrogram HDF5 (32 kHz, 10 s, 128 mels x 1001 frames, the\n"
               "paper's front end). Give exactly one input: --segments with --audio-dir, --manifest, or --panns-h5.\n"
               "Writes <out>.partial and renames it to <out> when done; re-running continues a .partial and skips\n"
               "the clips already in it. Clips that cannot be read are skipped and listed in <out>.failed.tsv\n"
               "(clip, path, reason); the run still succeeds (exit 0) unless --strict. Exit codes: 0 done or up to\n"
               "date, 1 clips failed under --strict, 2 user error (flags, CSV, manifest, output), 3 internal error.\n"
               "engine_prep --check FILE.h5 reports a spectrogram file's problems (NaN/inf, silent clips, clips\n"
               "without labels, duplicates), its label statistics and a content checksum (exit 1 when it found\n"
               "problems)."};
  std::string segments, audio_dir, manifest, panns, output, labels, check;
  int threads = 0;
  bool float32 = false, force = false, strict = false, quiet = false;
  auto* seg_opt = app.add_option("--segments", segments,
                                 "AudioSet segments CSV in the official format (YTID, start, end, \"mid,...\"); the "
                                 "audio of YTID is Y<YTID>.<ext> or <YTID>.<ext> (wav, flac, ogg, opus, mp3, aiff) "
                                 "anywhere under --audio-dir; segments without audio are reported as missing");
  app.add_option("--audio-dir", audio_dir,
                 "folder of the audio files (with --segments: required; with --manifest: base of relative paths, "
                 "default the manifest's folder)");
  auto* man_opt = app.add_option("--manifest", manifest,
                                 "clip list: .csv (path,labels[,name]; header optional), .jsonl ({\"path\", "
                                 "\"labels\", \"name\"?} per line) or AST .json ({\"data\": [{\"wav\", \"labels\"}]}); "
                                 "labels are MIDs or display names, separated by ',' or ';'");
  auto* h5_opt = app.add_option("--panns-h5", panns,
                                "PANNs waveform HDF5 (audio_name, waveform int16 N x 320000, target N x 527); labels "
                                "come from its target, clip names from audio_name");
  app.add_option("-o,--output", output, "spectrogram HDF5 to write");
  auto* check_opt = app.add_option("--check", check, "check a spectrogram HDF5 instead of writing one")
                        ->check(CLI::ExistingFile);
  app.add_option("--labels", labels,
                 "class_labels_indices.csv (index,mid,display_name); default: AudioSet's 527 classes, built in");
  app.add_option("--threads", threads, "worker threads (default: all hardware threads)")->check(CLI::Range(1, 1024));
  app.add_flag("--float32", float32, "store log-mels as float32 (default float16: half the size)");
  app.add_flag("--force", force, "rebuild the output even if it exists (discards an existing .partial too)");
  app.add_flag("--strict", strict,
               "if any clip fails, leave the output unfinished as <out>.partial and exit 1 (fix, then re-run to "
               "resume)");
  app.add_flag("-q,--quiet", quiet, "no progress line (the summary is still printed)");
  seg_opt->excludes(man_opt)->excludes(h5_opt);
  man_opt->excludes(h5_opt);
  check_opt->excludes(seg_opt)->excludes(man_opt)->excludes(h5_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    user_error(e.what());
  }

  if (!check.empty()) {
    USER_CHECK(output.empty(), "--check: reads a file, -o is not used");
    const SpectrogramCheck c = check_spectrogram_file(check);
    std::fputs(c.report().c_str(), stdout);
    return c.ok() ? 0 : 1;
  }
  USER_CHECK(!output.empty(), "-o: the spectrogram HDF5 to write is required");
  USER_CHECK(!segments.empty() || !manifest.empty() || !panns.empty(),
             "no input: give --segments (with --audio-dir), --manifest or --panns-h5");
  USER_CHECK(segments.empty() || !audio_dir.empty(), "--segments: needs --audio-dir (the folder of the audio files)");
  USER_CHECK(panns.empty() || audio_dir.empty(), "--audio-dir: not used with --panns-h5");
  USER_CHECK(!audio_dir.empty() ? fs::is_directory(audio_dir) : true, "--audio-dir ", audio_dir, ": not a directory");
  fs::path out_dir = fs::path(output).parent_path();
  USER_CHECK(out_dir.empty() || fs::is_directory(out_dir), "-o ", output, ": folder ", out_dir.string(),
             " does not exist");
  USER_CHECK(!fs::is_directory(output), "-o ", output, ": is a directory");
  for (const std::string& in : {segments, manifest, panns})
    USER_CHECK(in.empty() || !fs::exists(output) || !fs::equivalent(in, output), "-o ", output,
               ": is the input file");

  PrepConfig cfg;
  cfg.output = output;
  cfg.threads = threads;
  cfg.float32 = float32;
  cfg.force = force;
  cfg.strict = strict;
  cfg.progress = !quiet;
  for (int i = 0; i < argc; ++i) cfg.source_description += (i ? " " : "") + std::string(argv[i]);

  std::vector<PrepClip> clips;
  std::unique_ptr<PannsWaveformFile> h5;
  if (!panns.empty()) {
    h5 = std::make_unique<PannsWaveformFile>(panns);
    cfg.num_classes = h5->num_classes();
    clips = clips_from_panns(*h5);
    std::fprintf(stderr, "%s: %lld clips of %lld samples at %d Hz, %d classes\n", panns.c_str(),
                 (long long)h5->size(), (long long)h5->clip_samples(), h5->sample_rate(), h5->num_classes());
  } else {
    const ClassLabels classes = labels.empty() ? audioset_class_labels() : read_class_labels(labels);
    cfg.num_classes = classes.size();
    if (!segments.empty()) {
      SegmentList list = read_segments_csv(segments, classes);
      if ((list.header_segments >= 0 && list.header_segments != int64_t(list.segments.size())) ||
          (list.header_labels >= 0 && list.header_labels != list.num_labels()))
        std::fprintf(stderr, "warning: %s: the header says %lld segments / %lld labels, the file has %zu / %lld\n",
                     segments.c_str(), (long long)list.header_segments, (long long)list.header_labels,
                     list.segments.size(), (long long)list.num_labels());
      clips = clips_from_segments(list, audio_dir, cfg.num_classes);
    } else {
      std::vector<ManifestEntry> entries = read_manifest(manifest, classes);
      std::string base = !audio_dir.empty() ? audio_dir : fs::path(manifest).parent_path().string();
      clips = clips_from_manifest(entries, base, cfg.num_classes);
    }
  }

  USER_CHECK(!clips.empty(), !panns.empty() ? panns : !segments.empty() ? segments : manifest, ": no clips");
  PrepResult res = run_prep(clips, h5.get(), cfg);
  if (res.up_to_date) {
    std::fprintf(stderr, "engine_prep: %s is up to date (use --force to rebuild it)\n", output.c_str());
    return 0;
  }
  std::fprintf(stderr, "engine_prep: %s\n", res.summary().c_str());
  if (res.failed > 0 && strict) {
    std::fprintf(stderr, "engine_prep: %lld clips failed (--strict): the output is left as %s.partial; fix them, "
                 "then re-run to resume\n", (long long)res.failed, output.c_str());
    return 1;
  }
  if (res.failed > 0)
    std::fprintf(stderr, "warning: %lld of %lld clips failed and are not in %s\n", (long long)res.failed,
                 (long long)res.total, output.c_str());
  std::fprintf(stderr, "engine_prep: wrote %s\n", output.c_str());
  return 0;
}

int main(int argc, char** argv) { return engine::run_app("engine_prep", run, argc, argv); }
