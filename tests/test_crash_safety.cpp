// Faults a long run meets, tried on the built programs (engine_train_convnext, engine_prep: found next to this
// test's directory) run as child processes, on a small synthetic task (16 training clips, one of them silent,
// and 8 held-out clips of M 32 mel bins x T 129 frames, K 5 classes; 2 optimizer steps and one checkpoint per
// epoch, 4 epochs):
//   - SIGKILL at seeded points (inside a checkpoint write, right after one is renamed into place, during a
//     step, inside the removal of an old one), resumed each time: every checkpoint left is complete and readable, the newest is the one
//     resumed, and the end equals an uninterrupted run bit for bit (weights, EMA, moments, log records);
//   - SIGINT and SIGTERM: a checkpoint, exit 130 and the command that continues, which does;
//   - a full disk, injected as a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: writes past it fail with
//     EFBIG as they would with ENOSPC), while writing a checkpoint or spectrograms: a one-line message, the
//     previous checkpoint (or the .partial) intact, and a later run that continues to the same result.
// docs/reliability.md lists these faults and their outcomes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "data/spectrogram_check.h"
#include "data/spectrogram_h5.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "tests/harness/audio_file.h"
#include "tests/harness/synthetic_task.h"
#include "tests/harness/temp_dir.h"
#include "train/checkpoint.h"
#include "train/config.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

constexpr int K = test::kTaskClasses;
constexpr int64_t kSteps = 8, kStepsPerEpoch = 2;

// The programs beside this test's build directory (<build>/tests/engine_tests, <build>/engine_*).
std::string program(const std::string& name) {
  const fs::path p = fs::read_symlink("/proc/self/exe").parent_path().parent_path() / name;
  INFO("build " << name << " first (ninja -C " << p.parent_path().string() << ")");
  REQUIRE(fs::is_regular_file(p));
  return p.string();
}

// A program run as a child, stdout and stderr to files; fsize_limit > 0 sets RLIMIT_FSIZE (bytes).
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& out, const std::string& err, rlim_t fsize_limit = 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    rlimit lim{};
    getrlimit(RLIMIT_FSIZE, &lim);
    if (fsize_limit > 0) lim.rlim_cur = fsize_limit;
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      if (fsize_limit > 0 && (::signal(SIGXFSZ, SIG_IGN) == SIG_ERR || ::setrlimit(RLIMIT_FSIZE, &lim) != 0)) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Child() {  // a test that failed midway: no child left behind
    if (!done_ && ::kill(pid_, SIGKILL) == 0) ::waitpid(pid_, &status_, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool exited() {  // without blocking
    if (!done_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) done_ = true;
    return done_;
  }
  // The exit code, or 128 + the signal that ended it.
  int wait() {
    if (!done_) REQUIRE(::waitpid(pid_, &status_, 0) == pid_);
    done_ = true;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }
  void signal(int sig) { ::kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool done_ = false;
};

// Names of the entries created in, renamed into or modified in a directory, as they happen (inotify).
class DirWatch {
 public:
  explicit DirWatch(const std::string& dir) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    REQUIRE(inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_MODIFY) >= 0);
  }
  ~DirWatch() { ::close(fd_); }
  DirWatch(const DirWatch&) = delete;
  DirWatch& operator=(const DirWatch&) = delete;

  // Waits until `hit` holds for an event's name (true) or the child has exited (false).
  bool wait_for(Child& child, const std::function<bool(const std::string&)>& hit) {
    alignas(inotify_event) char buf[8192];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 5);
      for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) > 0;)
        for (char* e = buf; e < buf + n;) {
          const auto* ev = reinterpret_cast<const inotify_event*>(e);
          if (ev->len > 0 && hit(ev->name)) return true;
          e += sizeof(inotify_event) + ev->len;
        }
      if (child.exited()) return false;
    }
  }

 private:
  int fd_;
};


// The task, its configuration file and the uninterrupted run, made once.
struct Task {
  test::TempDir dir{"crash"};
  std::string config = dir.file("config.toml"), reference = dir.file("reference");

  Task() {
    test::write_synthetic_task(dir.file("train.h5"), 16, 1, {5});
    test::write_synthetic_task(dir.file("eval.h5"), 8, 2);
    train::TrainConfig c = test::synthetic_task_config(dir.file("train.h5"), dir.file("eval.h5"), reference);
    c.train.epochs = kSteps / kStepsPerEpoch;
    c.train.keep_last = 1;
    test::write_bytes(config, train::to_toml(c));
    REQUIRE(start(reference)->wait() == 0);
  }

  // A fresh run into `run`, or with resume its continuation.
  std::unique_ptr<Child> start(const std::string& run, bool resume = false, rlim_t fsize_limit = 0) const {
    const std::vector<std::string> args = resume ? std::vector<std::string>{program("engine_train_convnext"), "--resume", run}
                                                 : std::vector<std::string>{program("engine_train_convnext"), "--config",
                                                                            config, "--train.out", run};
    return std::make_unique<Child>(args, run + ".out", run + ".err", fsize_limit);
  }
};

const Task& task() {
  static Task t;
  return t;
}

std::string read(const fs::path& p) { return test::read_bytes(p.string()); }

// The log's records without their timings.
std::vector<nlohmann::json> log_records(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "log.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    j.erase("samples_per_s");
    out.push_back(j);
  }
  return out;
}

void require_same_as_reference(const fs::path& run) {
  const fs::path a = fs::path(task().reference) / train::checkpoint_name(kSteps), b = run / train::checkpoint_name(kSteps);
  for (const char* file : {"model.safetensors", "model_ema.safetensors", "optimizer.safetensors"}) {
    INFO(file);
    REQUIRE(read(b / file) == read(a / file));
  }
  REQUIRE(log_records(run) == log_records(task().reference));
}

int64_t last_logged_step(const fs::path& run) {
  int64_t step = 0;
  std::ifstream in(run / "log.jsonl");
  for (std::string line; std::getline(in, line);) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j["type"] == "train") step = j["step"].get<int64_t>();
    } catch (const nlohmann::json::exception&) {  // a line being written
    }
  }
  return step;
}

// Every checkpoint under a final name is complete and readable; returns the newest one's step (0: none) and
// whether a partial write was left behind.
struct RunDirState {
  int64_t newest = 0;
  bool partial_left = false, removal_left = false;
};
RunDirState check_run_dir(const fs::path& run) {
  RunDirState s;
  for (const auto& e : fs::directory_iterator(run)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".checkpoint-", 0) == 0 && name.find(".partial-") != std::string::npos) s.partial_left = true;
    if (name.rfind(".checkpoint-", 0) == 0 && name.find(".removing-") != std::string::npos) s.removal_left = true;
    if (name.rfind("checkpoint-", 0) != 0 || name == "checkpoint-best") continue;
    INFO(name);
    REQUIRE(fs::is_regular_file(e.path() / "state.json"));
    const int64_t step = std::stoll(name.substr(11));
    REQUIRE(nlohmann::json::parse(read(e.path() / "state.json"))["step"].get<int64_t>() == step);
    for (const char* file : {"model.safetensors", "model_ema.safetensors", "optimizer.safetensors"})
      REQUIRE_NOTHROW(load_safetensors((e.path() / file).string()));
    s.newest = std::max(s.newest, step);
  }
  if (fs::is_symlink(run / "checkpoint-best")) REQUIRE(fs::is_regular_file(run / "checkpoint-best" / "state.json"));
  return s;
}

bool is_partial_of(const std::string& name, int64_t step) {
  return name.rfind("." + train::checkpoint_name(step) + ".partial-", 0) == 0;
}

}  // namespace

TEST_CASE("bad clips: the trainer names a silent clip once and counts it in every epoch's summary", "[crash]") {
  const std::string out = read(task().reference + ".out");
  const std::string named = task().dir.file("train.h5") +
                            ": clip 5 (clip5): silent (every value at the front end's floor); left out (data.bad_clips = skip)\n";
  REQUIRE(out.find(named) != std::string::npos);
  REQUIRE(out.find(named) == out.rfind(named));
  for (int64_t epoch = 1; epoch <= kSteps / kStepsPerEpoch; ++epoch)
    REQUIRE_THAT(out, Catch::Contains("epoch " + std::to_string(epoch) + "/4 done at step " +
                                      std::to_string(epoch * kStepsPerEpoch) +
                                      ": 1 bad clips left out (0 non-finite, 1 silent, 0 without labels), 0 "
                                      "non-finite steps skipped so far\n"));
}

TEST_CASE("crash safety: SIGKILL at seeded points, resumed each time, ends bit for bit as an uninterrupted run",
          "[crash]") {
  test::TempDir dir("crash_kill");
  const fs::path run = dir.path / "run";
  fs::create_directories(run);  // watched from the start
  std::mt19937_64 rng(13);
  int killed = 0, inside_writes = 0, inside_removals = 0;
  int64_t newest = 0;
  for (int k = 0; k < 7 && newest < kSteps; ++k) {
    // When: 0 inside the next checkpoint write, 1 right after the next checkpoint is renamed into place, 2
    // during the step after the next one or the one after it, 3 inside the next removal of an old
    // checkpoint (train.keep_last); then a seeded delay (none for the first and the last kill).
    const int when = k < 6 ? k % 3 : 3;
    const int64_t step = when == 2 ? newest + 1 + int64_t(rng() % 2) : (newest / kStepsPerEpoch + 1) * kStepsPerEpoch;
    const int delay_us = k == 0 || when == 3 ? 0 : int(rng() % (when == 2 ? 50000 : 3000));
    INFO("kill " << k << ": when " << when << ", step " << step << ", delay " << delay_us << " us, from step " << newest);
    DirWatch watch(run.string());
    auto child = task().start(run.string(), newest > 0);
    const bool hit = watch.wait_for(*child, [&](const std::string& name) {
      switch (when) {
        case 0: return is_partial_of(name, step);
        case 1: return name == train::checkpoint_name(step);
        case 3: return name.rfind(".checkpoint-", 0) == 0 && name.find(".removing-") != std::string::npos;
        default: return name == "log.jsonl" && last_logged_step(run) >= step;
      }
    });
    REQUIRE(hit);
    ::usleep(useconds_t(delay_us));
    child->signal(SIGKILL);
    const int status = child->wait();
    INFO(read(run.string() + ".out") << read(run.string() + ".err"));
    REQUIRE((status == 128 + SIGKILL || status == 0));
    killed += status == 128 + SIGKILL;
    const std::string out = read(run.string() + ".out");
    if (newest > 0 && out.find("optimizer ") != std::string::npos)  // printed (and flushed) with the resume line
      REQUIRE(out.find("resuming " + (run / train::checkpoint_name(newest)).string() + " at step") != std::string::npos);
    const RunDirState s = check_run_dir(run);
    inside_writes += s.partial_left;
    inside_removals += s.removal_left;
    newest = s.newest;
  }
  REQUIRE(killed >= 6);
  REQUIRE(inside_writes >= 1);  // at least one kill cut a checkpoint write
  // The last kill comes as a removal starts (the reference removes checkpoints at 6 and 8); it lands before or
  // after remove_all ends, as the machine's speed decides (under ASan, after, at times).
  REQUIRE(inside_removals <= 1);
  // So what a kill inside a removal leaves is also made here, the same on every machine: a renamed checkpoint
  // with part of its files gone. The resume removes it and ends as the uninterrupted run.
  const fs::path leftover = run / ".checkpoint-000000001.removing-999999";
  fs::copy(run / train::checkpoint_name(newest), leftover, fs::copy_options::recursive);
  fs::remove(leftover / "model.safetensors");
  auto last = task().start(run.string(), newest > 0);
  REQUIRE(last->wait() == 0);
  REQUIRE(!fs::exists(leftover));
  REQUIRE(!check_run_dir(run).removal_left);
  require_same_as_reference(run);
}

TEST_CASE("crash safety: SIGINT and SIGTERM checkpoint, exit 130 and print the command that continues", "[crash]") {
  test::TempDir dir("crash_signal");
  const fs::path run = dir.path / "run";
  fs::create_directories(run);
  std::unique_ptr<Child> child = task().start(run.string());
  int64_t at = 1;
  for (int sig : {SIGINT, SIGTERM}) {
    DirWatch watch(run.string());
    REQUIRE(watch.wait_for(*child, [&](const std::string& name) { return name == "log.jsonl" && last_logged_step(run) >= at; }));
    child->signal(sig);
    REQUIRE(child->wait() == 130);
    const std::string out = read(run.string() + ".out");
    const std::string said = std::string("stopped (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ") at step ";
    const size_t p = out.find(said);
    REQUIRE(p != std::string::npos);
    const int64_t stopped = std::stoll(out.substr(p + said.size()));
    REQUIRE(stopped >= at);
    REQUIRE(stopped < kSteps);
    REQUIRE(check_run_dir(run).newest == stopped);
    const std::string command = "engine_train_convnext --resume " + run.string();
    REQUIRE(out.find("continue with: " + command + "\n") != std::string::npos);
    child = task().start(run.string(), true);  // that command
    at = stopped + 1;
  }
  REQUIRE(child->wait() == 0);
  require_same_as_reference(run);
}

TEST_CASE("disk full: a checkpoint that cannot be written leaves the previous one, and a later run continues",
          "[crash]") {
  test::TempDir dir("crash_disk_full");
  const fs::path run = dir.path / "run";
  {
    const std::string a0 = program("engine_train_convnext");
    Child c({a0, "--config", task().config, "--train.out", run.string(), "--stop-after", "3"}, dir.file("1.out"),
            dir.file("1.err"));
    REQUIRE(c.wait() == 130);
  }
  const std::string kept = train::latest_checkpoint(run.string());
  REQUIRE(fs::path(kept).filename() == train::checkpoint_name(3));
  const std::string weights = read(fs::path(kept) / "model.safetensors"), moments = read(fs::path(kept) / "optimizer.safetensors");
  // Room for the log and the configuration, not for a checkpoint's weights.
  REQUIRE(task().start(run.string(), true, rlim_t(weights.size() / 2))->wait() == 2);
  const std::string err = read(run.string() + ".err");
  INFO(err);
  REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
  REQUIRE_THAT(err, Catch::StartsWith("engine_train_convnext: " + train::checkpoint_name(4) + " not written: ") &&
                        Catch::Contains("File too large") &&
                        Catch::EndsWith(train::checkpoint_name(3) + " is intact: continue with engine_train_convnext --resume " +
                                        run.string() + " once that is fixed\n"));
  REQUIRE(check_run_dir(run).newest == 3);
  REQUIRE_FALSE(check_run_dir(run).partial_left);
  REQUIRE(read(fs::path(kept) / "model.safetensors") == weights);
  REQUIRE(read(fs::path(kept) / "optimizer.safetensors") == moments);
  REQUIRE(task().start(run.string(), true)->wait() == 0);
  require_same_as_reference(run);
}

TEST_CASE("disk full: spectrograms that cannot be written leave the .partial, and a later run finishes it", "[crash]") {
  test::TempDir dir("crash_prep");
  std::ofstream manifest(dir.file("list.csv"));
  manifest << "path,labels\n";
  for (int i = 0; i < 6; ++i) {
    std::vector<float> x(80000);  // 10 s at 8 kHz
    for (size_t n = 0; n < x.size(); ++n) x[n] = float(0.4 * std::sin(2 * M_PI * (200.0 + 150 * i) * double(n) / 8000));
    test::write_audio(dir.file("c" + std::to_string(i) + ".wav"), x, 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    manifest << "c" << i << ".wav," << (i % 2 ? "Speech" : "Music") << "\n";
  }
  manifest.close();
  auto prep = [&](const std::string& out, rlim_t limit) {
    Child c({program("engine_prep"), "--manifest", dir.file("list.csv"), "-o", out, "-q", "--threads", "2"},
            out + ".stdout", out + ".stderr", limit);
    return c.wait();
  };
  REQUIRE(prep(dir.file("reference.h5"), 0) == 0);
  const std::string out = dir.file("out.h5");
  // A float16 clip of 128 x 1001 is 256 KB: the limit stops the file after 2 clips.
  REQUIRE(prep(out, 800 << 10) == 2);
  const std::string err = read(out + ".stderr");
  INFO(err);
  REQUIRE(err == "engine_prep: " + out + ".partial: no room for the next clip (File too large); what was written (2 clips) "
                 "is kept: make room, then run again to continue\n");
  REQUIRE(fs::exists(out + ".partial"));
  REQUIRE_FALSE(fs::exists(out));
  REQUIRE(prep(out, 0) == 0);
  REQUIRE_THAT(read(out + ".stderr"), Catch::Contains("6 clips: 4 written, 2 skipped (already done), 0 failed"));
  REQUIRE(data::check_spectrogram_file(out).sha256 == data::check_spectrogram_file(dir.file("reference.h5")).sha256);
}
