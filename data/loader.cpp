// Loader: see loader.h. Batches are numbered absolutely, A = epoch * batches_per_epoch + position; batch A is
// built by whichever worker takes it, and next() hands them out strictly in order of A.
#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "engine/check.h"
#include "engine/rng.h"

namespace engine::data {

void to_json(nlohmann::json& j, const LoaderState& s) {
  j = nlohmann::json{{"epoch", s.epoch}, {"position", s.position}, {"seed", s.seed}};
  if (s.world_size != 1) j["world_size"] = s.world_size;
  j["batch"] = s.batch;
}
void from_json(const nlohmann::json& j, LoaderState& s) {
  j.at("epoch").get_to(s.epoch);
  j.at("position").get_to(s.position);
  j.at("seed").get_to(s.seed);
  s.world_size = j.value("world_size", 1);
  s.batch = j.value("batch", int64_t(0));
}

// The Philox offset of an epoch's shuffle: the top bit keeps it apart from other streams of the same seed.
static uint64_t shuffle_offset(int64_t epoch) { return (uint64_t(1) << 63) | uint64_t(epoch); }

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  std::iota(p.begin(), p.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; --i) {
    // j uniform in [0, i] from 64 random bits (multiply-shift; bias <= n / 2^64).
    const Philox4 r = philox_draw(seed, shuffle_offset(epoch), uint64_t(i));
    const uint64_t u = uint64_t(r.v[0]) | (uint64_t(r.v[1]) << 32);
    const int64_t j = int64_t((unsigned __int128)u * uint64_t(i + 1) >> 64);
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

static int64_t shard_size(int64_t n, bool drop_last, bool pad, int rank, int world) {
  if (drop_last) return n / world;
  return pad ? (n + world - 1) / world : (n - rank + world - 1) / world;
}

std::vector<int64_t> shard_indices(int64_t n, uint64_t seed, int64_t epoch, bool shuffle, bool drop_last, int rank,
                                   int world, bool pad) {
  USER_CHECK(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " is outside world size ", world);
  std::vector<int64_t> order;
  if (shuffle) {
    order = epoch_permutation(n, seed, epoch);
  } else {
    order.resize(size_t(n));
    std::iota(order.begin(), order.end(), int64_t(0));
  }
  // DistributedSampler: the order truncated (drop_last) or padded by wrapping to num * W (pad), then every
  // W-th; without pad every W-th below n.
  const int64_t num = n > 0 ? shard_size(n, drop_last, pad, rank, world) : 0;
  std::vector<int64_t> mine(static_cast<size_t>(num));
  for (int64_t k = 0; k < num; ++k) mine[size_t(k)] = order[size_t((rank + k * world) % n)];
  return mine;
}

struct Loader::Impl {
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };

  LoaderConfig cfg;
  SpectrogramReader reader;
  int64_t M, T, K;
  int64_t per_rank, bpe;  // clips and batches per epoch on this rank

  // Consumer side (the thread calling next()).
  int64_t epoch = 0, position = 0;
  uint64_t seed;

  // Shared with the workers, under mu. Workers run only between start() and stop(); seed and the
  // configuration do not change while they run.
  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  bool stopping = false;
  int64_t next_job = 0;  // first absolute batch number no worker has taken
  int64_t consumed = 0;  // absolute batch number next() waits for
  std::map<int64_t, Result> done;
  // Buffers of batches the caller has let go of (see recycle): fresh 16 MB allocations cost page faults that
  // were ~20% of the loader's CPU time.
  std::vector<Batch> spare;
  std::vector<std::thread> threads;

  // Each epoch's shard, computed once (under shard_mu) and shared by the workers building its batches.
  std::mutex shard_mu;
  std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> shards;

  explicit Impl(const LoaderConfig& c) : cfg(c), reader(c.path), seed(c.seed) {
    const FrontEndConfig& fe = reader.front_end();
    M = fe.n_mels;
    T = fe.frames();
    K = reader.num_classes();
    // Augmentation maps linear-frequency rectangles and silence onto this file's mel axis.
    cfg.augment_cfg.sample_rate = fe.sample_rate;
    cfg.augment_cfg.n_fft = fe.n_fft;
    cfg.augment_cfg.f_min = fe.f_min;
    cfg.augment_cfg.f_max = fe.f_max;
    cfg.augment_cfg.silence_db = float(10 * std::log10(fe.amin));
    per_rank = shard_size(reader.size(), cfg.drop_last, cfg.pad, cfg.rank, cfg.world_size);
    bpe = cfg.drop_last ? per_rank / cfg.batch_size : (per_rank + cfg.batch_size - 1) / cfg.batch_size;
    USER_CHECK(bpe > 0, cfg.path, ": ", reader.size(), " clips give rank ", cfg.rank, " of ", cfg.world_size,
               " no batch of ", cfg.batch_size, cfg.drop_last ? " (drop_last)" : "");
  }

  std::shared_ptr<const std::vector<int64_t>> shard(int64_t e) {
    std::lock_guard<std::mutex> lock(shard_mu);
    auto it = shards.find(e);
    if (it != shards.end()) return it->second;
    auto s = std::make_shared<const std::vector<int64_t>>(
        shard_indices(reader.size(), seed, e, cfg.shuffle, cfg.drop_last, cfg.rank, cfg.world_size, cfg.pad));
    shards.emplace(e, s);
    if (shards.size() > 4) shards.erase(shards.begin());  // workers run at most a few epochs ahead
    return s;
  }

  // Batch number `a` (absolute): a pure function of (seed, configuration, a).
  Batch build(int64_t a) {
    Batch out;
    out.epoch = a / bpe;
    const int64_t lo = (a % bpe) * cfg.batch_size;
    const auto idx = shard(out.epoch);
    const int64_t B = std::min<int64_t>(cfg.batch_size, per_rank - lo);
    out.indices.assign(idx->begin() + lo, idx->begin() + lo + B);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!spare.empty() && spare.back().x.size(0) == B) {
        out.x = std::move(spare.back().x);
        out.y = std::move(spare.back().y);
        spare.pop_back();
      }
    }
    if (!out.x.defined()) {
      out.x = Tensor::empty({B, M, T, 1});  // (B, M, T, 1)
      out.y = Tensor::empty({B, K});        // (B, K)
    }
    float* x = out.x.data<float>();
    float* y = out.y.data<float>();
    std::vector<uint8_t> labels(static_cast<size_t>(K));
    std::string problem;
    int64_t rows = 0;  // clips kept so far
    for (int64_t b = 0; b < B; ++b) {
      const int64_t i = out.indices[size_t(b)];
      float* xb = x + rows * M * T;  // (M, T) dB
      if (cfg.bad_clips == LoaderConfig::BadClips::keep) {
        reader.read(i, xb, labels.data());
      } else {
        problem.clear();
        reader.read(i, xb, labels.data(), &problem);
        ClipFaults f = clip_faults(xb, M * T, labels.data(), int(K), reader.front_end(), std::move(problem));
        if (f.any()) {
          // A non-finite message names the file and the clip already.
          std::string msg = f.non_finite.empty()
                                ? reader.path() + ": clip " + std::to_string(i) + " (" + reader.name(i) + "): " + f.describe()
                                : f.describe();
          USER_CHECK(cfg.bad_clips == LoaderConfig::BadClips::skip, msg, " (data.bad_clips = stop)");
          out.skipped.push_back({i, std::move(msg), std::move(f)});
          continue;
        }
      }
      out.indices[size_t(rows)] = i;
      if (cfg.augment)
        augment_clip(xb, int(M), int(T), cfg.augment_cfg, seed, (uint64_t(out.epoch) << 32) + uint64_t(i));
      normalise_logmel(xb, M * T, cfg.mean, cfg.stddev);
      for (int64_t c = 0; c < K; ++c) y[rows * K + c] = float(labels[size_t(c)]);
      ++rows;
    }
    if (rows < B) {  // clips were skipped: the batch's first `rows` rows, in tensors of that size
      out.indices.resize(size_t(rows));
      Tensor xs = Tensor::empty({rows, M, T, 1}), ys = Tensor::empty({rows, K});
      std::copy(x, x + rows * M * T, xs.data<float>());
      std::copy(y, y + rows * K, ys.data<float>());
      out.x = std::move(xs);
      out.y = std::move(ys);
    }
    return out;
  }

  void worker() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      work_cv.wait(lock, [&] { return stopping || next_job < consumed + cfg.prefetch_batches; });
      if (stopping) return;
      const int64_t a = next_job++;
      lock.unlock();
      Result r;
      try {
        r.batch = build(a);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      done.emplace(a, std::move(r));
      ready_cv.notify_all();
    }
  }

  // Keeps the tensors of a batch about to be overwritten when nothing else refers to them (no copy of the
  // handle, no view of the storage) and the caller left no autograd state on them, for build() to fill again.
  void recycle(Batch& old) {
    auto sole = [](const Tensor& t) {
      return t.defined() && t.impl_ptr().use_count() == 1 && t.impl().storage.use_count() == 1 &&
             !t.requires_grad() && !t.impl().grad;
    };
    if (!sole(old.x) || !sole(old.y)) return;
    std::lock_guard<std::mutex> lock(mu);
    if (int(spare.size()) < cfg.prefetch_batches + cfg.workers) spare.push_back(std::move(old));
  }

  void start(int64_t a) {
    next_job = consumed = a;
    for (int w = 0; w < cfg.workers; ++w) threads.emplace_back([this] { worker(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    work_cv.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
    stopping = false;
    done.clear();
  }
};

Loader::Loader(const LoaderConfig& cfg) {
  USER_CHECK(cfg.batch_size > 0, "loader: batch size must be positive, got ", cfg.batch_size);
  USER_CHECK(cfg.world_size >= 1 && cfg.rank >= 0 && cfg.rank < cfg.world_size, "loader: rank ", cfg.rank,
             " is outside world size ", cfg.world_size);
  USER_CHECK(cfg.workers >= 0, "loader: workers must be >= 0, got ", cfg.workers);
  USER_CHECK(cfg.prefetch_batches >= 1, "loader: prefetch_batches must be >= 1, got ", cfg.prefetch_batches);
  USER_CHECK(cfg.stddev > 0 && std::isfinite(cfg.stddev) && std::isfinite(cfg.mean),
             "loader: normalisation needs a finite mean and a positive std, got ", cfg.mean, " and ", cfg.stddev);
  impl_ = std::make_unique<Impl>(cfg);
}

Loader::~Loader() { impl_->stop(); }

bool Loader::next(Batch& out) {
  Impl& L = *impl_;
  if (L.position == L.bpe) {
    ++L.epoch;
    L.position = 0;
    return false;
  }
  const int64_t a = L.epoch * L.bpe + L.position;
  if (L.cfg.workers == 0) {
    L.recycle(out);
    out = L.build(a);
  } else {
    if (L.threads.empty()) L.start(a);
    std::unique_lock<std::mutex> lock(L.mu);
    L.ready_cv.wait(lock, [&] { return L.done.count(a) > 0; });
    auto it = L.done.find(a);
    if (it->second.error) std::rethrow_exception(it->second.error);  // kept: a retry rethrows again
    Batch fresh = std::move(it->second.batch);
    L.done.erase(it);
    L.consumed = a + 1;
    lock.unlock();
    L.work_cv.notify_all();
    L.recycle(out);
    out = std::move(fresh);
  }
  ++L.position;
  return true;
}

int64_t Loader::batches_per_epoch() const { return impl_->bpe; }
int64_t Loader::samples_per_epoch() const { return impl_->per_rank; }
LoaderState Loader::state() const {
  return {impl_->epoch, impl_->position, impl_->seed, impl_->cfg.world_size, impl_->cfg.batch_size};
}
const SpectrogramReader& Loader::reader() const { return impl_->reader; }

void Loader::restore(const LoaderState& s) {
  Impl& L = *impl_;
  // Micro-batch A of an epoch is the clips [A * B * W, (A + 1) * B * W) of the epoch's permutation, shared out over
  // the ranks: with the same total B * W, another number of ranks continues with the same clips at every step.
  const int W = L.cfg.world_size;
  const int64_t B = L.cfg.batch_size, total = B * W, saved_total = s.batch * s.world_size;
  if (s.batch == 0) {  // a checkpoint from before the batch was recorded
    USER_CHECK(s.world_size == W, "loader state: saved by a run of ", s.world_size, " ranks, this run has ", W,
               " (resume this checkpoint with the number of ranks it was started with)");
  } else if (saved_total != total) {
    const std::string keep = saved_total % W == 0
                                 ? "keep the total: --train.batch " + std::to_string(saved_total / W)
                                 : "a total of " + std::to_string(saved_total) + " does not split over " +
                                       std::to_string(W) + " ranks";
    user_error("loader state: saved by a run of ", s.world_size, " rank(s) x ", s.batch, " clips per micro-batch (",
               saved_total, " in all), this run has ", W, " x ", B, " (", total, "): ", keep);
  }
  USER_CHECK(s.epoch >= 0 && s.position >= 0 && s.position <= L.bpe, "loader state: epoch ", s.epoch,
             ", position ", s.position, " is outside [0, ", L.bpe, "] batches per epoch of ", L.cfg.path);
  L.stop();  // prefetched batches belong to the old position (and maybe the old seed)
  L.epoch = s.epoch;
  L.position = s.position;
  L.seed = s.seed;
  L.shards.clear();
}

}  // namespace engine::data
