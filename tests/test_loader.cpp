// Loader (data/loader.h) over a small spectrogram file (N 23 clips, M 4, T 5, K 3, float32 so values are exact):
// determinism across worker counts, per-epoch order, save/restore mid-epoch, DistributedSampler sharding,
// batch drop_last, normalisation, augmentation key, worker errors, shutdown mid-epoch, buffer reuse, bad clips.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "data/loader.h"
#include "data/spectrogram_check.h"
#include "engine/check.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::data;

namespace spectrogram_test {  // tests/test_spectrogram_h5.cpp
void poke_logmel(const std::string& path, int64_t clip, int64_t k, float value);
}  // namespace spectrogram_test

namespace {

constexpr int64_t N = 23, M = 4, T = 5, K = 3;

FrontEndConfig tiny_front_end() {
  FrontEndConfig fe;
  fe.sample_rate = 1000;
  fe.clip_samples = 400;
  fe.n_fft = 64;
  fe.hop = 100;  // T = 5
  fe.n_mels = int(M);
  fe.f_min = 0;
  fe.f_max = 500;
  return fe;
}

// Element k of clip i is i * 100 + k: every value tells which clip and element it came from.
float value(int64_t i, int64_t k) { return float(i * 100 + k); }
uint8_t label(int64_t i, int64_t c) { return uint8_t((i + c) % 2); }

std::string make_file(const std::string& name, int64_t n = N) {
  const std::string path = test::process_temp_dir("loader").file(name);
  std::filesystem::remove(path);
  SpectrogramWriter w(path, tiny_front_end(), int(K), true, false, "loader test");
  std::vector<float> x(size_t(M * T));
  std::vector<uint8_t> y(static_cast<size_t>(K));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < M * T; ++k) x[size_t(k)] = value(i, k);
    for (int64_t c = 0; c < K; ++c) y[size_t(c)] = label(i, c);
    w.append("clip" + std::to_string(i), x.data(), y.data(), "");
  }
  w.finish();
  return path;
}

const std::string& shared_file() {
  static const std::string path = make_file("loader.h5");
  return path;
}

LoaderConfig config(int workers, int batch = 5) {
  LoaderConfig c;
  c.path = shared_file();
  c.batch_size = batch;
  c.seed = 1234;
  c.workers = workers;
  c.prefetch_batches = 3;
  return c;
}

// Everything a batch holds, comparable with ==.
struct Flat {
  std::vector<int64_t> indices;
  int64_t epoch;
  std::vector<float> x, y;
  bool operator==(const Flat& o) const { return indices == o.indices && epoch == o.epoch && x == o.x && y == o.y; }
};
Flat flat(const Batch& b) { return {b.indices, b.epoch, b.x.to_vector<float>(), b.y.to_vector<float>()}; }

// The batches of the loader's next `epochs` epochs.
std::vector<Flat> drain(Loader& loader, int epochs) {
  std::vector<Flat> out;
  Batch b;
  for (int e = 0; e < epochs; ++e)
    while (loader.next(b)) out.push_back(flat(b));
  return out;
}

}  // namespace

TEST_CASE("loader: batches hold the clips of their indices, normalised, with their labels", "[data][loader]") {
  LoaderConfig c = config(2);
  c.mean = 3.0f;
  c.stddev = 2.5f;
  Loader loader(c);
  CHECK(loader.batches_per_epoch() == N / 5);
  Batch b;
  REQUIRE(loader.next(b));
  REQUIRE(b.x.shape() == Shape{5, M, T, 1});
  REQUIRE(b.y.shape() == Shape{5, K});
  CHECK(b.x.dtype() == DType::f32);
  CHECK(b.epoch == 0);
  const auto x = b.x.to_vector<float>(), y = b.y.to_vector<float>();
  for (int64_t j = 0; j < 5; ++j) {
    const int64_t i = b.indices[size_t(j)];
    for (int64_t k = 0; k < M * T; ++k) CHECK(x[size_t(j * M * T + k)] == (value(i, k) - 3.0f) / 2.5f);
    for (int64_t c2 = 0; c2 < K; ++c2) CHECK(y[size_t(j * K + c2)] == float(label(i, c2)));
  }
}

TEST_CASE("loader: same seed gives the same batches with 0, 1 and 3 workers", "[data][loader]") {
  Loader l0(config(0)), l1(config(1)), l3(config(3));
  const auto a = drain(l0, 3), b = drain(l1, 3), c = drain(l3, 3);
  REQUIRE(a.size() == 3 * (N / 5));
  CHECK(a == b);
  CHECK(a == c);
  // A different seed gives a different order.
  LoaderConfig other = config(1);
  other.seed = 99;
  Loader lo(other);
  CHECK(drain(lo, 1)[0].indices != a[0].indices);
}

TEST_CASE("loader: every epoch is a new permutation of the clips", "[data][loader]") {
  LoaderConfig c = config(2, 1);
  Loader loader(c);
  std::vector<std::vector<int64_t>> epochs;
  Batch b;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> order;
    while (loader.next(b)) {
      CHECK(b.epoch == e);
      order.push_back(b.indices[0]);
    }
    CHECK(std::set<int64_t>(order.begin(), order.end()).size() == size_t(N));
    epochs.push_back(order);
  }
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
  CHECK(epochs[0] == shard_indices(N, c.seed, 0, true, true, 0, 1));
  CHECK(epoch_permutation(N, c.seed, 1) == epochs[1]);

  c.shuffle = false;
  Loader ordered(c);
  std::vector<int64_t> order;
  while (ordered.next(b)) order.push_back(b.indices[0]);
  std::vector<int64_t> iota(N);
  for (int64_t i = 0; i < N; ++i) iota[size_t(i)] = i;
  CHECK(order == iota);
}

TEST_CASE("loader: restoring a saved state reproduces the remaining batches", "[data][loader]") {
  Loader a(config(2));
  Batch b;
  drain(a, 1);
  REQUIRE(a.next(b));
  REQUIRE(a.next(b));  // two batches into epoch 1, with more prefetched by the workers
  const LoaderState saved = a.state();
  CHECK(saved.epoch == 1);
  CHECK(saved.position == 2);
  CHECK(saved.seed == 1234);
  const nlohmann::json j = saved;  // as a checkpoint stores it
  const auto rest = drain(a, 2);   // rest of epoch 1, then epoch 2
  REQUIRE(rest.size() == size_t(a.batches_per_epoch() - 2 + a.batches_per_epoch()));

  LoaderConfig c = config(3);
  c.seed = 7;  // the state's seed wins
  Loader fresh(c);
  fresh.restore(j.get<LoaderState>());
  CHECK(drain(fresh, 2) == rest);

  Loader sync(config(0));
  sync.restore(saved);
  CHECK(drain(sync, 2) == rest);

  a.restore(saved);  // rewinding the same loader drops what its workers prefetched
  CHECK(drain(a, 2) == rest);

  LoaderState bad = saved;
  bad.position = a.batches_per_epoch() + 1;
  CHECK_THROWS_WITH(a.restore(bad), Catch::Contains("position 5"));
}

TEST_CASE("loader: sharding over 1, 2 and 3 ranks visits every clip once per epoch", "[data][loader]") {
  for (int world : {1, 2, 3}) {
    for (bool drop_last : {true, false}) {
      for (int64_t epoch : {0, 1}) {
        std::vector<int64_t> all;
        for (int rank = 0; rank < world; ++rank) {
          const auto mine = shard_indices(N, 5, epoch, true, drop_last, rank, world);
          CHECK(int64_t(mine.size()) == (drop_last ? N / world : (N + world - 1) / world));
          all.insert(all.end(), mine.begin(), mine.end());
        }
        std::multiset<int64_t> seen(all.begin(), all.end());
        std::set<int64_t> distinct(all.begin(), all.end());
        if (drop_last) {
          CHECK(distinct.size() == all.size());  // no clip twice; N mod W clips sit out this epoch
          CHECK(int64_t(all.size()) == N / world * world);
        } else {
          CHECK(int64_t(distinct.size()) == N);  // every clip, the padding repeats the first ones
          CHECK(int64_t(all.size() - distinct.size()) == (N + world - 1) / world * world - N);
        }
      }
    }
  }
  // Through the loader: 3 ranks, batch 1, no drop_last, each rank its own shard of the same permutation.
  std::multiset<int64_t> seen;
  for (int rank = 0; rank < 3; ++rank) {
    LoaderConfig c = config(2, 1);
    c.drop_last = false;
    c.rank = rank;
    c.world_size = 3;
    Loader loader(c);
    CHECK(loader.samples_per_epoch() == 8);
    for (const auto& b : drain(loader, 1)) seen.insert(b.indices[0]);
  }
  CHECK(seen.size() == 24);
  for (int64_t i = 0; i < N; ++i) CHECK(seen.count(i) == (i == epoch_permutation(N, 1234, 0)[0] ? 2u : 1u));
}

TEST_CASE("loader: batch drop_last drops the short last batch", "[data][loader]") {
  LoaderConfig c = config(1, 5);
  Loader dropping(c);
  CHECK(dropping.batches_per_epoch() == 4);
  for (const auto& b : drain(dropping, 1)) CHECK(b.indices.size() == 5);
  c.drop_last = false;
  Loader keeping(c);
  CHECK(keeping.batches_per_epoch() == 5);
  const auto batches = drain(keeping, 1);
  REQUIRE(batches.size() == 5);
  CHECK(batches.back().indices.size() == 3);
  CHECK(batches.back().x.size() == size_t(3 * M * T));
  c.batch_size = 24;
  c.drop_last = true;
  CHECK_THROWS_WITH(Loader(c), Catch::Contains("no batch of 24"));
}

TEST_CASE("loader: augmentation runs on dB values with key epoch * 2^32 + clip index", "[data][loader]") {
  LoaderConfig c = config(2);
  c.augment = true;
  c.augment_cfg.erase_p = 1.0;
  Loader loader(c);
  Batch b;
  drain(loader, 1);
  REQUIRE(loader.next(b));
  const auto x = b.x.to_vector<float>();
  // The loader takes the front end's axes for augmentation from the file.
  const FrontEndConfig fe = tiny_front_end();
  AugmentConfig file_cfg = c.augment_cfg;
  file_cfg.sample_rate = fe.sample_rate;
  file_cfg.n_fft = fe.n_fft;
  file_cfg.f_min = fe.f_min;
  file_cfg.f_max = fe.f_max;
  file_cfg.silence_db = -100.f;
  bool changed = false;
  for (int64_t j = 0; j < 5; ++j) {
    const int64_t i = b.indices[size_t(j)];
    std::vector<float> want(size_t(M * T));
    for (int64_t k = 0; k < M * T; ++k) want[size_t(k)] = value(i, k);
    augment_clip(want.data(), int(M), int(T), file_cfg, c.seed, (uint64_t(1) << 32) + uint64_t(i));
    for (int64_t k = 0; k < M * T; ++k) {
      CHECK(x[size_t(j * M * T + k)] == (want[size_t(k)] - c.mean) / c.stddev);
      changed |= want[size_t(k)] != value(i, k);
    }
  }
  CHECK(changed);
}

TEST_CASE("loader: a worker's error is rethrown by next() when its batch is due", "[data][loader]") {
  const std::string path = make_file("loader_nan.h5");
  spectrogram_test::poke_logmel(path, 17, 3, std::nanf(""));
  LoaderConfig c = config(3, 1);
  c.path = path;
  c.shuffle = false;
  Loader loader(c);
  Batch b;
  for (int64_t i = 0; i < 17; ++i) {
    REQUIRE(loader.next(b));
    CHECK(b.indices[0] == i);
  }
  CHECK_THROWS_AS(loader.next(b), UserError);
  CHECK_THROWS_WITH(loader.next(b), Catch::Contains(path) && Catch::Contains("clip 17 (clip17)") &&
                                        Catch::Contains("NaN"));
}

TEST_CASE("loader: destruction mid-epoch stops the workers", "[data][loader]") {
  for (int workers : {1, 3}) {
    Loader loader(config(workers, 1));
    Batch b;
    REQUIRE(loader.next(b));
  }  // joined here with prefetched batches pending; the test hanging or crashing is the failure
  Loader untouched(config(2));  // never started
  CHECK(untouched.state().position == 0);
}

TEST_CASE("loader: a batch the caller still holds is never reused for later batches", "[data][loader]") {
  for (int workers : {0, 2}) {
    Loader loader(config(workers, 1));
    Batch b;
    REQUIRE(loader.next(b));
    const Tensor kept = b.x;  // a second handle: the loader must not recycle this storage
    const auto kept_values = kept.to_vector<float>();
    const int64_t kept_clip = b.indices[0];
    for (int k = 0; k < 10; ++k) REQUIRE(loader.next(b));
    CHECK(kept.to_vector<float>() == kept_values);
    const LoaderConfig c = config(workers, 1);
    CHECK(kept_values[1] == (value(kept_clip, 1) - c.mean) / c.stddev);
  }
}

TEST_CASE("loader: bad clips (NaN/inf, silent, no labels) are kept, left out with their names, or stop it",
          "[data][loader]") {
  // 10 clips in file order, batches of 4 (the last of 2): clip 2 silent, 5 without labels, 6 NaN, 8 silent,
  // 9 silent and without labels, so the last batch has no clip left.
  const std::string path = test::process_temp_dir("loader").file("loader_bad.h5");
  std::filesystem::remove(path);
  {
    SpectrogramWriter w(path, tiny_front_end(), int(K), true, false, "loader test");
    const float floor_db = float(10 * std::log10(tiny_front_end().amin));
    std::vector<float> x(size_t(M * T));
    std::vector<uint8_t> y(static_cast<size_t>(K));
    for (int64_t i = 0; i < 10; ++i) {
      for (int64_t k = 0; k < M * T; ++k) x[size_t(k)] = i == 2 || i >= 8 ? floor_db : value(i, k);
      for (int64_t c = 0; c < K; ++c) y[size_t(c)] = i == 5 || i == 9 ? 0 : uint8_t(c == i % K);
      w.append("clip" + std::to_string(i), x.data(), y.data(), "");
    }
    w.finish();
  }
  spectrogram_test::poke_logmel(path, 6, 3, std::nanf(""));
  // engine_prep --check finds the same clips by the same rule.
  const SpectrogramCheck check = check_spectrogram_file(path);
  REQUIRE(check.silent.size() == 3);
  REQUIRE(check.unlabelled.size() == 2);
  REQUIRE(check.non_finite.size() == 1);
  CHECK(check.non_finite[0].index == 6);

  LoaderConfig c = config(0, 4);
  c.path = path;
  c.shuffle = false;
  c.drop_last = false;
  c.mean = 0;
  c.stddev = 1;
  Batch b;
  SECTION("skip: left out of their batch, named, for 0 and 2 workers") {
    for (int workers : {0, 2}) {
      INFO("workers " << workers);
      c.workers = workers;
      c.bad_clips = LoaderConfig::BadClips::skip;
      Loader loader(c);
      REQUIRE(loader.next(b));
      REQUIRE(b.indices == std::vector<int64_t>{0, 1, 3});
      REQUIRE(b.x.shape() == Shape{3, M, T, 1});
      REQUIRE(b.y.shape() == Shape{3, K});
      const auto x = b.x.to_vector<float>(), y = b.y.to_vector<float>();
      for (int64_t j = 0; j < 3; ++j) {
        CHECK(x[size_t(j * M * T + 7)] == value(b.indices[size_t(j)], 7));
        CHECK(y[size_t(j * K + b.indices[size_t(j)] % K)] == 1.f);
      }
      REQUIRE(b.skipped.size() == 1);
      CHECK(b.skipped[0].index == 2);
      CHECK(b.skipped[0].faults.silent);
      CHECK(b.skipped[0].message == path + ": clip 2 (clip2): silent (every value at the front end's floor)");

      REQUIRE(loader.next(b));
      CHECK(b.indices == std::vector<int64_t>{4, 7});
      REQUIRE(b.skipped.size() == 2);
      CHECK(b.skipped[0].message == path + ": clip 5 (clip5): no labels");
      CHECK(b.skipped[0].faults.unlabelled);
      CHECK_FALSE(b.skipped[0].faults.silent);
      CHECK(b.skipped[1].index == 6);
      CHECK(b.skipped[1].message == b.skipped[1].faults.non_finite);
      CHECK_THAT(b.skipped[1].message, Catch::StartsWith(path + ": clip 6 (clip6): log-mel contains NaN"));

      REQUIRE(loader.next(b));
      CHECK(b.indices.empty());
      CHECK(b.x.shape() == Shape{0, M, T, 1});
      REQUIRE(b.skipped.size() == 2);
      CHECK(b.skipped[1].message == path + ": clip 9 (clip9): silent (every value at the front end's floor), no labels");
      CHECK_FALSE(loader.next(b));
    }
  }
  SECTION("keep: silent and unlabelled clips as they are, a NaN still an error") {
    c.bad_clips = LoaderConfig::BadClips::keep;
    Loader loader(c);
    REQUIRE(loader.next(b));
    CHECK(b.indices == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(b.skipped.empty());
    CHECK_THROWS_WITH(loader.next(b), Catch::Contains("clip 6 (clip6): log-mel contains NaN"));
  }
  SECTION("stop: the first bad clip is an error naming it") {
    c.bad_clips = LoaderConfig::BadClips::stop;
    Loader loader(c);
    CHECK_THROWS_WITH(loader.next(b), path + ": clip 2 (clip2): silent (every value at the front end's floor) "
                                             "(data.bad_clips = stop)");
  }
}
