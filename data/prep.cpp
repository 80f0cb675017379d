#include "data/prep.h"

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "data/audio_io.h"
#include "data/panns_h5.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"
#include "engine/progress.h"

namespace engine::data {

namespace fs = std::filesystem;

namespace {

const char* const kAudioExtensions[] = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif"};

std::vector<uint8_t> multi_hot(const std::vector<int>& labels, int num_classes) {
  std::vector<uint8_t> y(size_t(num_classes), 0);  // (K)
  for (int k : labels) {
    ENGINE_CHECK(k >= 0 && k < num_classes, "label ", k, " of ", num_classes);
    y[size_t(k)] = 1;
  }
  return y;
}

// A field of the failure report: tabs and line breaks would break the TSV.
std::string tsv_field(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return s;
}

// The outcome of one clip: a log-mel (M, T) and labels (K), or the reason it failed.
struct ClipResult {
  std::vector<float> logmel;
  std::vector<uint8_t> labels;
  std::string reason;
  bool padded = false;  // shorter than the clip length (as its header says): zero-padded as the paper does
};

ClipResult process_clip(const PrepClip& clip, const PannsWaveformFile* h5, const PrepConfig& cfg,
                        const LogMel& logmel) {
  ClipResult r;
  if (!clip.missing.empty()) {
    r.reason = clip.missing;
    return r;
  }
  try {
    std::vector<float> wave;  // (fe.clip_samples)
    if (clip.h5_index >= 0) {
      ENGINE_CHECK(h5 != nullptr, "clip ", clip.name, " has an HDF5 row but no HDF5 source");
      wave.resize(size_t(h5->clip_samples()));
      r.labels.resize(size_t(h5->num_classes()));
      h5->read(clip.h5_index, wave.data(), r.labels.data());
      if (h5->sample_rate() != cfg.fe.sample_rate) wave = resample(wave, h5->sample_rate(), cfg.fe.sample_rate);
      pad_or_truncate(wave, size_t(cfg.fe.clip_samples));
    } else {
      std::error_code ec;
      if (!fs::exists(clip.path, ec)) {
        r.reason = "missing: no such file";
        return r;
      }
      r.labels = clip.labels;
      double seconds = 0;
      wave = load_clip(clip.path, cfg.fe, &seconds);
      r.padded = seconds * cfg.fe.sample_rate < double(cfg.fe.clip_samples);
    }
    r.logmel.resize(size_t(cfg.fe.n_mels) * size_t(cfg.fe.frames()));  // (M, T)
    logmel.compute(wave.data(), r.logmel.data());
    if (!std::all_of(r.logmel.begin(), r.logmel.end(), [](float v) { return std::isfinite(v); })) {
      r.reason = "non-finite log-mel (sample values far outside [-1, 1]?)";
      r.logmel.clear();
    }
  } catch (const UserError& e) {
    // read_audio's messages are "<path>: <reason>"; the report has the path in its own column
    std::string msg = e.what(), prefix = clip.path + ": ";
    r.reason = msg.compare(0, prefix.size(), prefix) == 0 ? msg.substr(prefix.size()) : msg;
    r.logmel.clear();
  }
  return r;
}

// Progress on stderr: updated in place on a terminal, one line every 30 s otherwise (logs).
class Progress {
 public:
  Progress(bool enabled, int64_t total, int64_t skipped) : line_(enabled), total_(total), skipped_(skipped) {}
  void update(int64_t written, int64_t failed, bool final) {
    if (!line_.due(final)) return;
    const double t = line_.elapsed();
    const int64_t done = written + failed, pending = total_ - skipped_;
    const double rate = t > 0 ? done / t : 0;
    const std::string eta = rate > 0 ? format_duration((pending - done) / rate) : "?";
    char buf[256];
    std::snprintf(buf, sizeof buf, "%lld/%lld clips (%lld written, %lld failed, %lld already done)  %.1f clips/s  ETA %s",
                  (long long)(done + skipped_), (long long)total_, (long long)written, (long long)failed,
                  (long long)skipped_, rate, eta.c_str());
    line_.update(buf, final);
  }

 private:
  ProgressLine line_;
  int64_t total_, skipped_;
};

void write_report(const std::string& path, const std::vector<PrepFailure>& failures) {
  std::ofstream out(path, std::ios::binary);
  USER_CHECK(out, path, ": cannot write the failure report");
  out << "clip\tpath\treason\n";
  for (const PrepFailure& f : failures)
    out << tsv_field(f.clip) << '\t' << tsv_field(f.path) << '\t' << tsv_field(f.reason) << '\n';
  USER_CHECK(out.flush(), path, ": cannot write the failure report");
}

}  // namespace

std::vector<PrepClip> clips_from_segments(const SegmentList& segments, const std::string& audio_dir,
                                          int num_classes) {
  USER_CHECK(fs::is_directory(audio_dir), audio_dir, ": not a directory (the folder of the segments' audio)");
  // stem -> (extension rank, path) of the best audio file with that stem; one scan of the whole tree
  std::unordered_map<std::string, std::pair<int, std::string>> files;
  const int num_ext = int(std::size(kAudioExtensions));
  for (const auto& entry : fs::recursive_directory_iterator(audio_dir, fs::directory_options::skip_permission_denied)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    int rank = 0;
    while (rank < num_ext && strcasecmp(ext.c_str(), kAudioExtensions[rank]) != 0) ++rank;
    if (rank == num_ext) continue;
    std::pair<int, std::string> cand{rank, entry.path().string()};
    auto [it, inserted] = files.emplace(entry.path().stem().string(), cand);
    if (!inserted && cand < it->second) it->second = cand;  // deterministic whatever the directory order
  }
  std::vector<PrepClip> clips;
  clips.reserve(segments.segments.size());
  for (const Segment& s : segments.segments) {
    PrepClip c;
    c.name = s.ytid;
    c.labels = multi_hot(s.labels, num_classes);
    auto it = files.find("Y" + s.ytid);
    if (it == files.end()) it = files.find(s.ytid);
    if (it != files.end()) {
      c.path = it->second.second;
    } else {
      c.path = (fs::path(audio_dir) / ("Y" + s.ytid + ".wav")).string();
      c.missing = "missing: no audio file Y" + s.ytid + ".* or " + s.ytid + ".* under " + audio_dir;
    }
    clips.push_back(std::move(c));
  }
  return clips;
}

std::vector<PrepClip> clips_from_manifest(const std::vector<ManifestEntry>& entries, const std::string& base_dir,
                                          int num_classes) {
  std::vector<PrepClip> clips;
  clips.reserve(entries.size());
  for (const ManifestEntry& e : entries) {
    PrepClip c;
    c.name = e.name;
    fs::path p(e.path);
    c.path = (p.is_absolute() ? p : fs::path(base_dir) / p).lexically_normal().string();
    c.labels = multi_hot(e.labels, num_classes);
    clips.push_back(std::move(c));
  }
  return clips;
}

std::vector<PrepClip> clips_from_panns(const PannsWaveformFile& h5) {
  std::vector<PrepClip> clips(size_t(h5.size()));
  for (int64_t i = 0; i < h5.size(); ++i) {
    clips[size_t(i)].name = h5.name(i);
    clips[size_t(i)].path = h5.path();
    clips[size_t(i)].h5_index = i;
  }
  return clips;
}

std::string PrepResult::summary() const {
  std::ostringstream os;
  if (up_to_date) {
    os << "up to date: the output exists (use --force to rebuild it)";
    return os.str();
  }
  char rate[160];
  double cps = seconds > 0 ? written / seconds : 0;
  std::snprintf(rate, sizeof rate, "%.1f s wall, %.2f clips/s, %.2f clips/s per thread (%d thread%s)", seconds, cps,
                cps / std::max(threads, 1), threads, threads == 1 ? "" : "s");
  os << total << " clips: " << written << " written";
  if (padded > 0) os << " (" << padded << " shorter than a clip, zero-padded)";
  os << ", " << skipped << " skipped (already done), " << failed << " failed; " << rate;
  if (failed > 0) os << "\nfailed clips are listed in " << report_path;
  return os.str();
}

PrepResult run_prep(const std::vector<PrepClip>& clips, const PannsWaveformFile* h5, const PrepConfig& cfg) {
  PrepResult res;
  res.total = int64_t(clips.size());
  res.threads = cfg.threads > 0 ? cfg.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  const std::string partial = cfg.output + ".partial", report = cfg.output + ".failed.tsv";
  if (fs::exists(cfg.output) && !cfg.force) {
    res.up_to_date = res.finished = true;
    return res;
  }
  if (cfg.force) {
    fs::remove(cfg.output);
    fs::remove(partial);
  }
  auto writer_ptr = std::make_unique<SpectrogramWriter>(cfg.output, cfg.fe, cfg.num_classes, cfg.float32,
                                                        fs::exists(partial), cfg.source_description);
  SpectrogramWriter& writer = *writer_ptr;
  std::vector<size_t> pending;  // indices into clips, in order
  for (size_t i = 0; i < clips.size(); ++i) {
    if (writer.contains(clips[i].name))
      res.skipped++;
    else
      pending.push_back(i);
  }

  // Workers claim jobs in order and leave their results in `ready`; rows are appended strictly in job order,
  // so at most `window` results wait in memory (each (M, T) floats, 512 KB).
  const LogMel logmel(cfg.fe);
  const size_t window = size_t(4 * res.threads);
  std::mutex mu;
  std::condition_variable cv;
  size_t next_claim = 0, next_write = 0;
  bool writing = false;  // a worker is appending results
  std::map<size_t, ClipResult> ready;
  std::exception_ptr error;
  Progress progress(cfg.progress, res.total, res.skipped);
  auto start = std::chrono::steady_clock::now();

  auto worker = [&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return error || next_claim >= pending.size() || next_claim < next_write + window; });
      if (error || next_claim >= pending.size()) return;
      size_t job = next_claim++;
      lock.unlock();
      ClipResult r;
      try {
        r = process_clip(clips[pending[job]], h5, cfg, logmel);
      } catch (...) {
        lock.lock();
        if (!error) error = std::current_exception();
        cv.notify_all();
        return;
      }
      lock.lock();
      ready.emplace(job, std::move(r));
      // One worker at a time is the writer: it appends every result that is next in order, outside the lock,
      // while the others go on computing.
      if (writing) continue;
      writing = true;
      for (auto it = ready.find(next_write); !error && it != ready.end(); it = ready.find(next_write)) {
        ClipResult out = std::move(it->second);
        ready.erase(it);
        const PrepClip& c = clips[pending[next_write]];
        lock.unlock();
        try {
          if (out.reason.empty()) writer.append(c.name, out.logmel.data(), out.labels.data(), c.path);
        } catch (...) {
          lock.lock();
          if (!error) error = std::current_exception();
          break;
        }
        lock.lock();
        if (out.reason.empty()) {
          res.written++;
          res.padded += out.padded;
        } else {
          res.failures.push_back({c.name, c.path, out.reason});
          res.failed++;
        }
        next_write++;
        cv.notify_all();
      }
      writing = false;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < res.threads; ++t) pool.emplace_back(worker);
  {
    std::unique_lock<std::mutex> lock(mu);
    while (!error && next_write < pending.size()) {
      cv.wait_for(lock, std::chrono::milliseconds(250));
      progress.update(res.written, res.failed, false);
    }
  }
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.update(res.written, res.failed, true);

  if (res.failed > 0) {
    write_report(report, res.failures);
    res.report_path = report;
  } else {
    fs::remove(report);  // from an earlier run whose failures are now fixed
  }
  if (res.failed > 0 && res.written + res.skipped == 0) {  // e.g. a wrong --audio-dir: not worth an empty file
    writer_ptr.reset();
    fs::remove(partial);
    const PrepFailure& f = res.failures.front();
    user_error(cfg.output, ": none of the ", res.failed, " clips could be read (all are listed in ", report,
               "; the first: ", f.path, ": ", f.reason, ")");
  }
  if (!(cfg.strict && res.failed > 0)) {
    writer.finish();
    res.finished = true;
  }
  return res;
}

}  // namespace engine::data
