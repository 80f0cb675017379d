#include "train/trainer.h"

#include <chrono>
#include <cerrno>
#include <cstdarg>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_set>

#include "data/augment.h"
#include "data/loader.h"
#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/param_arena.h"
#include "engine/progress.h"
#include "ops/bce_loss.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/schedule.h"

namespace engine::train {

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_stop_requested = 0;  // the signal received, 0 if none

void on_stop_signal(int sig) {
  g_stop_requested = sig;
  std::signal(sig, SIG_DFL);  // a second signal ends the process
}

// Drop-path draws of micro-batch i use Generator offsets [i * kOffsetsPerMicroBatch, ...).
constexpr uint64_t kOffsetsPerMicroBatch = 1 << 12;

Device pick_device(const std::string& d) {
  if (d == "cpu") return Device::CPU;
  USER_CHECK(d != "cuda" || cuda_available(), "train.device = cuda: no CUDA device (or the engine was built without CUDA)");
  return cuda_available() ? Device::CUDA : Device::CPU;
}

bool all_finite(const Tensor& t) {
  const std::vector<float> v = t.to(Device::CPU).to_vector<float>();
  for (float x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

// Keeps the JSONL records up to `step` (a resumed run rewrites what the interrupted one logged after it).
void truncate_log(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).value("step", int64_t(0)) <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      break;  // a line cut by a kill: drop it and what follows
    }
  }
  write_file_atomic(path, kept);
}

// printf on rank 0 only (and flushed): one copy of each progress line, whatever the world size.
void say(bool lead, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void say(bool lead, const char* fmt, ...) {
  if (!lead) return;
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fflush(stdout);
}

// Sums a step's per-rank numbers over the ranks (f64, exact for counts).
std::vector<double> sum_over_ranks(dist::Communicator& comm, const std::vector<double>& v) {
  Tensor t = Tensor::from_vector<double>(v, {int64_t(v.size())}).to(comm.device());
  comm.all_reduce(t, dist::ReduceOp::sum);
  return t.to_vector<double>();
}

class JsonlLog {
 public:
  explicit JsonlLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
    USER_CHECK(out_, path, ": cannot open the log for writing");
  }
  void write(const nlohmann::json& j) {
    out_ << j.dump() << "\n";
    out_.flush();
    USER_CHECK(out_, path_, ": cannot write the log (", std::strerror(errno), ")");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

models::ModelConfig model_config_of(const TrainConfig& c) {
  models::ModelConfig probe;
  probe.arch = c.model.arch;
  probe.variant = c.model.variant == "dcls" ? models::Variant::dcls : models::Variant::dsc;
  models::ModelConfig m = models::default_config(models::model_name(probe));
  if (!c.model.dims.empty()) m.dims.assign(c.model.dims.begin(), c.model.dims.end());
  if (!c.model.depths.empty()) m.depths.assign(c.model.depths.begin(), c.model.depths.end());
  m.num_classes = int(c.model.num_classes);
  m.drop_path_rate = c.model.drop_path;
  m.layer_scale_init = c.model.layer_scale_init;
  m.norm = c.model.norm == "batch" ? models::Norm::batch : models::Norm::layer;
  m.head_pool = c.model.head_pool == "time_max_mean" ? models::HeadPool::time_max_mean : models::HeadPool::mean;
  m.seed = uint64_t(c.train.seed);
  return m;
}

namespace {

// The run on `comm`'s ranks (one, or data-parallel: every rank runs this with its own shard of each batch;
// rank 0 alone prints, logs and writes the run directory, which the others read to resume).
TrainOutcome train_ranks(const TrainConfig& cfg, bool resume, int64_t stop_after, Device dev, dist::Communicator& comm) {
  const int W = comm.size(), rank = comm.rank();
  const bool lead = rank == 0;
  const std::string run_dir = cfg.train.out;
  const std::string resume_command = "engine_train_" + cfg.model.arch + " --resume " + run_dir;
  std::error_code ec;
  if (lead) fs::create_directories(run_dir, ec);
  USER_CHECK(!ec, "train.out ", run_dir, ": cannot create the directory (", ec.message(), ")");
  const std::string existing = latest_checkpoint(run_dir);
  if (!resume)
    USER_CHECK(existing.empty(), "train.out ", run_dir, " already holds a run (", fs::path(existing).filename().string(),
               "); continue it with --resume ", run_dir, " or choose another --train.out");
  USER_CHECK(!resume || !existing.empty(), "--resume ", run_dir, ": no complete checkpoint to resume from",
             lead ? "" : " (ranks other than 0 resume from the run directory too: it must be on a shared file system)");
  if (lead)
    for (const auto& e : fs::directory_iterator(run_dir, ec))  // leftovers of a killed checkpoint write or removal
      if (e.path().filename().string().rfind(".checkpoint-", 0) == 0) fs::remove_all(e.path(), ec);

  say(lead, "effective configuration (%s/config.toml):\n%s\n", run_dir.c_str(), to_toml(cfg).c_str());
  if (W > 1) say(lead, "data-parallel: %d ranks (%s)\n", W, comm.backend());
  const models::ModelConfig mcfg = model_config_of(cfg);
  auto model = models::create_model(mcfg);
  model->to(dev);

  data::LoaderConfig lc;
  lc.path = cfg.data.train;
  lc.batch_size = int(cfg.train.batch);
  lc.seed = uint64_t(cfg.train.seed);
  lc.rank = rank;
  lc.world_size = W;
  lc.workers = int(cfg.data.workers);
  lc.augment = cfg.data.augment;
  lc.bad_clips = cfg.data.bad_clips == "stop" ? data::LoaderConfig::BadClips::stop : data::LoaderConfig::BadClips::skip;
  data::Loader loader(lc);
  const data::ModelInput model_input{loader.reader().front_end(), lc.mean, lc.stddev};  // recorded in checkpoints
  const int K = mcfg.num_classes;
  USER_CHECK(loader.reader().num_classes() == K, cfg.data.train, ": ", loader.reader().num_classes(),
             " classes, model.num_classes is ", K);
  const int64_t uf = cfg.train.update_freq;
  const int64_t niter = loader.batches_per_epoch() / uf;
  USER_CHECK(niter > 0, cfg.data.train, ": ", loader.samples_per_epoch(), " clips", W > 1 ? " per rank" : "",
             " make no optimizer step of ", cfg.train.batch, " x ", uf, " clips (use a smaller train.batch or train.update_freq",
             W > 1 ? ", or fewer ranks)" : ")");
  ScheduleConfig sc;
  sc.base = cfg.effective_lr(W);
  sc.final_value = cfg.optim.min_lr;
  sc.epochs = cfg.train.epochs;
  sc.niter_per_epoch = niter;
  sc.warmup_epochs = cfg.optim.warmup_epochs;
  sc.warmup_steps = cfg.optim.warmup_steps;
  const std::vector<double> lr_schedule = cosine_schedule(sc);
  const int64_t total_steps = int64_t(lr_schedule.size());

  const ParamGrouping grouping = paper_param_groups(*model, cfg.optim.weight_decay, cfg.optim.dcls_lr_scale);
  const int ema_slot = cfg.train.ema ? Optimizer::kStateSlots : -1;
  ParameterArena arena(*model, dev, Optimizer::kStateSlots + (cfg.train.ema ? 1 : 0), grouping.group_of);
  OptimizerConfig oc;
  oc.kind = cfg.optim.optimizer == "lamb" ? OptimizerKind::lamb : OptimizerKind::adamw;
  oc.beta1 = cfg.optim.beta1;
  oc.beta2 = cfg.optim.beta2;
  oc.eps = cfg.optim.eps;
  oc.max_grad_norm = cfg.optim.max_grad_norm;
  Optimizer opt(arena, grouping.groups, oc);

  RunState st;
  const std::string config_path = (fs::path(run_dir) / "config.toml").string();
  const std::string log_path = (fs::path(run_dir) / "log.jsonl").string();
  if (resume) {
    st = read_checkpoint(existing, *model, arena, ema_slot);
    opt.set_steps(st.optimizer_steps);
    loader.restore(st.loader);
    if (!lead) st.epoch_bad = {};  // rank 0's checkpoint holds the whole world's count
    if (lead) truncate_log(log_path, st.step);
    say(lead, "resuming %s at step %lld of %lld\n", existing.c_str(), (long long)st.step, (long long)total_steps);
  } else {
    if (lead) write_file_atomic(log_path, "");
    if (ema_slot >= 0) arena.state(ema_slot).copy_(arena.values());
  }
  // Also on resume (once the checkpoint is accepted), which may change some keys (train/cli.cpp): config.toml
  // says what the run now uses.
  if (lead) write_file_atomic(config_path, to_toml(cfg));
  std::unique_ptr<JsonlLog> log_file;
  if (lead) log_file = std::make_unique<JsonlLog>(log_path);
  auto log_write = [&](const nlohmann::json& j) {
    if (log_file) log_file->write(j);
  };

  // Data parallel: every rank starts from rank 0's weights, and BatchNorm running statistics follow rank 0's
  // (PyTorch DDP's broadcast_buffers: before every forward). num_batches_tracked (i64) counts forwards, the
  // same on every rank, and is not sent.
  std::vector<Tensor> float_buffers;
  for (auto& [name, t] : model->named_buffers())
    if (t.dtype() == DType::f32) float_buffers.push_back(t);
  auto broadcast_buffers = [&]() {
    if (W > 1)
      for (Tensor& t : float_buffers) comm.broadcast(t, 0);
  };
  if (W > 1) {
    Tensor values = arena.values();
    comm.broadcast(values, 0);
    if (ema_slot >= 0) {
      Tensor ema = arena.state(ema_slot);
      comm.broadcast(ema, 0);
    }
    broadcast_buffers();
  }
  // Bad-clip counts of the epoch so far, summed into rank 0's (the others restart from zero).
  auto gather_bad_clips = [&]() {
    if (W == 1) return;
    RunState::BadClips& n = st.epoch_bad;
    const std::vector<double> t =
        sum_over_ranks(comm, {double(n.clips), double(n.non_finite), double(n.silent), double(n.unlabelled)});
    n = lead ? RunState::BadClips{int64_t(t[0]), int64_t(t[1]), int64_t(t[2]), int64_t(t[3])} : RunState::BadClips{};
  };

  say(lead, "%s: %lld parameters, device %s\n", model->name().c_str(), (long long)model->num_parameters(),
            device_name(dev));
  for (size_t g = 0; g < grouping.groups.size(); ++g) {
    int tensors = 0;
    int64_t elems = 0;
    for (const ArenaSegment& s : arena.segments())
      if (s.group == int(g)) ++tensors, elems += s.numel;
    say(lead, "  group %-14s %3d tensors %10lld elements  weight decay %g  lr x %g\n",
              grouping.groups[g].name.c_str(), tensors, (long long)elems, grouping.groups[g].weight_decay,
              grouping.groups[g].lr_scale);
  }
  say(lead, "train: %s, %lld clips, %lld optimizer steps per epoch of %lld x %lld clips, %lld epochs (%lld steps)\n",
            cfg.data.train.c_str(), (long long)loader.samples_per_epoch(), (long long)niter,
            (long long)cfg.train.batch, (long long)uf, (long long)cfg.train.epochs, (long long)total_steps);
  if (W > 1)
    say(lead, "  per rank: %lld clips per epoch; per step %d ranks x %lld x %lld = %lld clips (the total batch)\n",
        (long long)loader.samples_per_epoch(), W, (long long)cfg.train.batch, (long long)uf,
        (long long)cfg.total_batch(W));
  say(lead, "optimizer %s, peak lr %.4g (%.4g for a total batch of %lld), warm-up %lld steps, min lr %g\n",
            cfg.optim.optimizer.c_str(), sc.base, cfg.optim.lr, (long long)cfg.optim.lr_batch,
            (long long)(sc.warmup_steps > 0 ? sc.warmup_steps : sc.warmup_epochs * niter), sc.final_value);

  const bool has_eval = !cfg.data.eval.empty();
  auto run_eval = [&](const char* tag) {
    broadcast_buffers();  // every rank evaluates with rank 0's BatchNorm statistics
    Evaluation e = evaluate(*model, cfg.data.eval, int(cfg.data.eval_batch), dev, int(cfg.data.workers), &comm);
    say(lead, "held-out%s: %s [%.0f s]\n", tag, evaluation_summary(e).c_str(), e.seconds);
    return e;
  };
  auto ema_eval = [&]() {
    Tensor live = arena.values().clone();
    arena.values().copy_(arena.state(ema_slot));
    Evaluation e = run_eval(" (EMA)");
    arena.values().copy_(live);
    return e;
  };
  std::vector<std::string> mids, names;
  class_table(K, mids, names);

  // A checkpoint of `st` (rank 0; the others return ""), or a UserError saying what is left and how to go on
  // (e.g. after a full disk).
  auto save_checkpoint = [&]() -> std::string {
    if (!lead) return "";
    try {
      return write_checkpoint(run_dir, *model, model_input, arena, ema_slot, st);
    } catch (const UserError& e) {
      const std::string kept = latest_checkpoint(run_dir);
      if (kept.empty())
        user_error(checkpoint_name(st.step), " not written: ", e.what(),
                   "; no checkpoint yet: start the run again once that is fixed");
      user_error(checkpoint_name(st.step), " not written: ", e.what(), "; ", fs::path(kept).filename().string(),
                 " is intact: continue with ", resume_command, " once that is fixed");
    }
  };

  // Evaluation + checkpoint at an epoch boundary (or the end); keeps the best by held-out mAP.
  auto checkpoint_with_eval = [&](int64_t epoch) {
    st.loader = loader.state();
    st.optimizer_steps = opt.steps();
    st.eval = nullptr;
    Evaluation e;
    if (has_eval) {
      e = run_eval("");
      st.eval = evaluation_json(e);
      nlohmann::json rec = {{"type", "eval"}, {"step", st.step}, {"epoch", epoch}};
      rec.update(st.eval);
      if (ema_slot >= 0) {
        const Evaluation ee = ema_eval();
        st.eval["ema"] = evaluation_json(ee);
        rec["ema"] = st.eval["ema"];
      }
      log_write(rec);
      if (lead) write_per_class_csv((fs::path(run_dir) / "per_class_ap.csv").string(), e.metrics, mids, names);
    }
    const bool best = has_eval && e.metrics.map > st.best_map;
    if (best) st.best_map = e.metrics.map, st.best_step = st.step;
    const std::string dir = save_checkpoint();
    if (lead && best)
      write_per_class_csv((fs::path(run_dir) / "per_class_ap-best.csv").string(), e.metrics, mids, names);
    if (lead) update_checkpoints(run_dir, best || (!has_eval && st.best_step < 0) ? dir : "", cfg.train.keep_last);
    return e;
  };

  TrainOutcome out;
  if (!resume && has_eval && cfg.train.eval_every > 0) {
    // The untrained model: what training is measured against.
    const Evaluation e0 = run_eval(" before training");
    nlohmann::json rec = {{"type", "eval"}, {"step", 0}, {"epoch", 0}};
    rec.update(evaluation_json(e0));
    log_write(rec);
  }

  const auto start = std::chrono::steady_clock::now();
  auto interval_start = start;
  const int64_t first_step = st.step;
  double interval_loss = 0;
  int64_t interval_steps = 0, interval_samples = 0, samples = 0;
  const data::MixupConfig mixup{cfg.data.mixup_alpha, cfg.data.label_smoothing};
  Generator drop_gen(uint64_t(cfg.train.seed) + 2);
  Tensor seed_grad = Tensor::full({}, 1.0 / double(uf), DType::f32, dev);
  data::Batch b;
  std::unordered_set<int64_t> named_bad;  // bad clips already named on stdout by this process
  while (st.step < total_steps) {
    const int64_t epoch = st.step / niter;
    arena.zero_grad();
    double step_loss = 0;
    std::vector<int64_t> clips;
    for (int64_t u = 0; u < uf; ++u) {
      USER_CHECK(loader.next(b), "internal: the loader ended its epoch early");
      for (const data::SkippedClip& bad : b.skipped) {
        RunState::BadClips& n = st.epoch_bad;
        ++n.clips;
        n.non_finite += !bad.faults.non_finite.empty();
        n.silent += bad.faults.silent;
        n.unlabelled += bad.faults.unlabelled;
        if (named_bad.insert(bad.index).second) std::printf("%s; left out (data.bad_clips = skip)\n", bad.message.c_str());
      }
      broadcast_buffers();  // on every rank, also one whose micro-batch turns out empty
      const int B = int(b.x.shape()[0]);
      if (B == 0) continue;  // every clip of the micro-batch was bad
      // Each rank draws its own mixup and drop path (rank r of W: stream micro * W + r; one rank: micro).
      const uint64_t micro = uint64_t((st.step * uf + u) * W + rank);
      if (mixup.alpha > 0)
        data::mixup_batch(b.x.data<float>(), b.y.data<float>(), B, b.x.numel() / B, K, mixup,
                          uint64_t(cfg.train.seed), micro);
      else if (mixup.label_smoothing > 0)
        for (int64_t i = 0; i < b.y.numel(); ++i)
          b.y.data<float>()[i] = float((1 - mixup.label_smoothing) * b.y.data<float>()[i] + mixup.label_smoothing / K);
      drop_gen.offset = micro * kOffsetsPerMicroBatch;
      Tensor loss = ops::bce_with_logits(model->forward(b.x.to(dev), drop_gen), b.y.to(dev));
      step_loss += double(loss.item<float>()) / double(uf);
      autograd::backward({loss}, {seed_grad});
      clips.insert(clips.end(), b.indices.begin(), b.indices.end());
      samples += B, interval_samples += B;
    }
    // Data parallel: the mean gradient over the ranks (each rank's is the mean over its clips), so every rank
    // takes the same step; one fused all-reduce of the whole gradient region after the last micro-batch.
    int stop_signal = g_stop_requested;
    int64_t step_clips = int64_t(clips.size());
    if (W > 1) {
      Tensor grads = arena.grads();
      comm.all_reduce(grads, dist::ReduceOp::average);
      const int64_t B_step = int64_t(clips.size());
      const std::vector<double> t = sum_over_ranks(
          comm, {step_loss, double(B_step), double(g_stop_requested == SIGINT), double(g_stop_requested == SIGTERM)});
      step_loss = t[0] / W;  // non-finite on any rank: non-finite on all
      step_clips = int64_t(t[1]);
      samples += step_clips - B_step, interval_samples += step_clips - B_step;  // the world's throughput
      stop_signal = t[2] > 0 ? SIGINT : t[3] > 0 ? SIGTERM : 0;  // a signal to any rank stops them all, together
    }
    const bool finite = std::isfinite(step_loss) && all_finite(arena.grads());
    if (finite && step_clips > 0) {  // no clips: every clip of the step was bad, nothing to learn from
      opt.step(lr_schedule[size_t(st.step)]);
      if (ema_slot >= 0) ema_update(arena, ema_slot, cfg.train.ema_decay);
      interval_loss += step_loss, ++interval_steps;
    } else if (!finite) {
      std::string what = "loss " + std::to_string(step_loss);
      if (std::isfinite(step_loss)) {
        const std::vector<float> g = arena.grads().to(Device::CPU).to_vector<float>();
        for (const ArenaSegment& seg : arena.segments()) {
          bool bad = false;
          for (int64_t i = 0; i < seg.numel && !bad; ++i) bad = !std::isfinite(g[size_t(seg.offset + i)]);
          if (bad) {
            what = "gradient of " + seg.name + " (the first such tensor)";
            break;
          }
        }
      }
      std::string names_list;
      for (size_t i = 0; i < clips.size() && i < 8; ++i) names_list += (i ? ", " : "") + loader.reader().name(clips[i]);
      if (clips.size() > 8) names_list += ", ...";
      USER_CHECK(cfg.train.on_nonfinite == "skip", "step ", st.step + 1, ": non-finite ", what, "; clips: ", names_list,
                 " (train.on_nonfinite = stop)");
      ++st.skipped_steps;
      say(lead, "step %lld: non-finite %s; clips: %s; step skipped (%lld so far)\n", (long long)(st.step + 1),
                what.c_str(), names_list.c_str(), (long long)st.skipped_steps);
      log_write({{"type", "skipped"}, {"step", st.step + 1}, {"what", what}, {"clips", names_list}});
    }
    ++st.step;
    if (W > 1 && cfg.train.check_every > 0 && (st.step % cfg.train.check_every == 0 || st.step == total_steps))
      dist::require_identical(comm, arena.values(), "the parameters", st.step);

    if (st.step % cfg.train.log_every == 0 || st.step == total_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - interval_start).count();
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double eta = elapsed / double(st.step - first_step) * double(total_steps - st.step);
      const double loss_mean = interval_steps ? interval_loss / double(interval_steps) : NAN;
      const double lr = lr_schedule[size_t(st.step - 1)];
      say(lead, "epoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.3e  %.1f samples/s  ETA %s\n",
                (long long)(epoch + 1), (long long)cfg.train.epochs, (long long)st.step, (long long)total_steps,
                loss_mean, lr, double(interval_samples) / dt, format_duration(eta).c_str());
      std::fflush(stdout);
      log_write({{"type", "train"}, {"step", st.step}, {"epoch", double(st.step) / double(niter)}, {"loss", loss_mean},
                 {"lr", lr}, {"samples_per_s", double(interval_samples) / dt}});
      interval_start = now, interval_loss = 0, interval_steps = 0, interval_samples = 0;
    }

    if (st.step % niter == 0) {  // epoch done: skip the leftover micro-batches, evaluate, checkpoint
      while (loader.next(b)) {
      }
      const int64_t done = st.step / niter;
      gather_bad_clips();
      const RunState::BadClips& bad = st.epoch_bad;
      say(lead, "epoch %lld/%lld done at step %lld: %lld bad clips left out (%lld non-finite, %lld silent, %lld "
                "without labels), %lld non-finite steps skipped so far\n",
                (long long)done, (long long)cfg.train.epochs, (long long)st.step, (long long)bad.clips,
                (long long)bad.non_finite, (long long)bad.silent, (long long)bad.unlabelled,
                (long long)st.skipped_steps);
      std::fflush(stdout);
      log_write({{"type", "epoch"}, {"step", st.step}, {"epoch", done}, {"bad_clips", bad.clips},
                 {"non_finite", bad.non_finite}, {"silent", bad.silent}, {"unlabelled", bad.unlabelled},
                 {"skipped_steps", st.skipped_steps}});
      st.epoch_bad = {};
      const bool last = st.step == total_steps;
      if (last || (cfg.train.eval_every > 0 && done % cfg.train.eval_every == 0)) {
        Evaluation e = checkpoint_with_eval(done);
        if (last && has_eval) out.evaluated = true, out.final_eval = e;
      }
    }
    if ((stop_signal || st.step - first_step == stop_after) && st.step < total_steps) {
      st.loader = loader.state();
      st.optimizer_steps = opt.steps();
      st.eval = nullptr;
      gather_bad_clips();
      const std::string dir = save_checkpoint();  // kept if just written
      if (lead) update_checkpoints(run_dir, "", cfg.train.keep_last);
      const char* why = stop_signal == SIGINT ? "SIGINT" : stop_signal == SIGTERM ? "SIGTERM" : "--stop-after";
      say(lead, "stopped (%s) at step %lld of %lld; checkpoint %s; continue with: %s\n", why, (long long)st.step,
                (long long)total_steps, dir.c_str(), resume_command.c_str());
      out.steps = st.step;
      return out;
    }
  }
  out.finished = true;
  out.steps = st.step;
  out.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.samples_per_second = double(samples) / out.train_seconds;
  if (st.best_step >= 0)
    say(lead, "best held-out mAP %.4f at step %lld (%s/checkpoint-best)\n", st.best_map, (long long)st.best_step,
              run_dir.c_str());
  return out;
}

}  // namespace

TrainOutcome run_training(const TrainConfig& cfg, bool resume, int64_t stop_after, dist::Communicator* comm) {
  validate(cfg);
  USER_CHECK(!cfg.data.train.empty(), "data.train: not set (a spectrogram HDF5 from engine_prep; in the config or --data.train FILE)");
  // The device before the communicator: NCCL ranks select their GPU before the engine's stream exists.
  const Device dev = pick_device(cfg.train.device);
  std::unique_ptr<dist::Communicator> launched;
  if (!comm) {
    launched = dist::connect(dev, cfg.train.dist_timeout);
    comm = launched.get();
  }
  if (comm->size() == 1) return train_ranks(cfg, resume, stop_after, dev, *comm);
  // A rank that failed must not leave its peers waiting in a collective: it ends the whole job (MPI_Abort),
  // after its message, with the exit codes of engine/app_main.h.
  int code = 2;
  try {
    return train_ranks(cfg, resume, stop_after, dev, *comm);
  } catch (const UserError& e) {
    std::fprintf(stderr, "rank %d of %d: %s\n", comm->rank(), comm->size(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d of %d: internal error: %s\n", comm->rank(), comm->size(), e.what());
    code = 3;
  }
  std::fflush(stderr);
  comm->abort(code);
}

}  // namespace engine::train
