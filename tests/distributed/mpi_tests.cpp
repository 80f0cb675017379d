// Data parallelism on CPU ranks over MPI, run by CTest as `mpirun -np 2 engine_mpi_tests` (every rank runs
// every test case, in the same order, so that their collectives meet):
//   - the collectives' results on known inputs;
//   - a replica whose parameters differ fails the checksum comparison on every rank;
//   - evaluation split over the ranks equals one process's (an odd number of clips: one rank has one more,
//     none is counted twice);
//   - 2-rank training (2 x 2 clips per micro-batch, 2 micro-batches per step, 6 steps, augmentation and EMA on)
//     equals one process with the same total batch (4 clips x 2) within a float tolerance, and two 2-rank
//     runs are bit-identical;
//   - a 2-rank run stopped and resumed on 2 ranks ends bit-identical; one process resumes it only with the
//     total batch kept, and then (as a 1-process run resumed on 2 ranks) ends as the uninterrupted run within
//     the float tolerance;
//   - a BatchNorm model with a bad clip on one rank: replicas identical at every step, the clip counted once.
// The synthetic task of tests/harness/synthetic_task.h (K 5 classes, M 32 mel bins x T 129 frames).
// Hidden cases ([.]) that end the job on purpose, run by their own CTest entries: a training error on one
// rank, a rank that dies and a rank that hangs past the timeout.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/distributed.h"
#include "engine/safetensors.h"
#include "models/model_info.h"
#include "tests/harness/synthetic_task.h"
#include "tests/harness/temp_dir.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/trainer.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

dist::Communicator& world() {
  static std::unique_ptr<dist::Communicator> comm = dist::connect(Device::CPU, 60);
  return *comm;
}

// One directory for all ranks: rank 0 makes it and sends its name (as f64 character codes, exact).
const std::string& shared_dir() {
  static std::unique_ptr<test::TempDir> dir;
  static const std::string path = [] {
    std::string p;
    if (world().rank() == 0) {
      dir = std::make_unique<test::TempDir>("mpi");
      p = dir->path.string();
    }
    std::vector<double> chars(4096, 0.0);
    for (size_t i = 0; i < p.size(); ++i) chars[i] = double((unsigned char)p[i]);
    Tensor t = Tensor::from_vector<double>(chars, {4096});
    world().broadcast(t, 0);
    std::string out;
    for (double c : t.to_vector<double>()) {
      if (c == 0) break;
      out += char(int(c));
    }
    return out;
  }();
  return path;
}

struct Task {
  std::string train = shared_dir() + "/train.h5", eval = shared_dir() + "/eval.h5";
  Task() {
    if (world().rank() == 0) {
      test::write_synthetic_task(train, 24, 1);
      test::write_synthetic_task(eval, 13, 2);  // odd: rank 0 evaluates 7 clips, rank 1 6
    }
    world().barrier();
  }
};

const Task& task() {
  static Task t;
  return t;
}

// per_rank_batch clips per rank and micro-batch; 2 micro-batches per step; 24 clips: 3 steps per epoch.
// Mixup and drop path off: each rank draws its own (as DDP's per-rank seeds), so they could not match one
// process. Augmentation is keyed by clip, the same wherever the clip is trained.
train::TrainConfig config(const std::string& out, int64_t per_rank_batch) {
  train::TrainConfig c = test::synthetic_task_config(task().train, task().eval, out);
  c.model.drop_path = 0;
  c.data.workers = 0;
  c.data.eval_batch = 4;
  c.data.mixup_alpha = 0;
  c.train.batch = per_rank_batch;
  c.train.update_freq = 2;
  c.train.check_every = 1;
  return c;
}

std::vector<double> losses(const std::string& run) {
  std::ifstream log(run + "/log.jsonl");
  std::vector<double> out;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") out.push_back(j["loss"].get<double>());
  }
  return out;
}

// The largest absolute difference between the f32 tensors of two safetensors files of the same model.
double largest_weight_difference(const std::string& a, const std::string& b) {
  const SafetensorsFile wa = load_safetensors(a), wb = load_safetensors(b);
  REQUIRE(wa.tensors.size() == wb.tensors.size());
  double worst = 0;
  for (size_t i = 0; i < wa.tensors.size(); ++i) {
    REQUIRE(wa.tensors[i].first == wb.tensors[i].first);
    if (wa.tensors[i].second.dtype() != DType::f32) continue;
    const std::vector<float> x = wa.tensors[i].second.to_vector<float>(), y = wb.tensors[i].second.to_vector<float>();
    for (size_t k = 0; k < x.size(); ++k) worst = std::max(worst, double(std::fabs(x[k] - y[k])));
  }
  return worst;
}

}  // namespace

TEST_CASE("mpi: all_reduce, broadcast and all_gather over 2 ranks", "[mpi]") {
  dist::Communicator& c = world();
  REQUIRE(c.size() == 2);
  REQUIRE(std::string(c.backend()) == "mpi");
  const float r = float(c.rank());
  Tensor a = Tensor::from_vector<float>({1 + r, 10 * r, -3}, {3});
  c.all_reduce(a, dist::ReduceOp::sum);
  CHECK(a.to_vector<float>() == std::vector<float>{3, 10, -6});
  Tensor m = Tensor::from_vector<double>({1 + r, 3 * r}, {2});
  c.all_reduce(m, dist::ReduceOp::average);
  CHECK(m.to_vector<double>() == std::vector<double>{1.5, 1.5});
  Tensor b = Tensor::from_vector<float>({r + 5, r + 7}, {2});
  c.broadcast(b, 1);
  CHECK(b.to_vector<float>() == std::vector<float>{6, 8});
  Tensor g = Tensor::zeros({4});
  c.all_gather(Tensor::from_vector<float>({r, r + 0.5f}, {2}), g);
  CHECK(g.to_vector<float>() == std::vector<float>{0, 0.5f, 1, 1.5f});
}

TEST_CASE("mpi: parameters that differ on one rank fail the check on every rank", "[mpi]") {
  Tensor p = Tensor::full({1000}, 0.25);
  dist::require_identical(world(), p, "the parameters", 7);  // equal: passes
  if (world().rank() == 1) p.data<float>()[999] = std::nextafter(0.25f, 1.f);  // one ulp of one element
  REQUIRE_THROWS_WITH(dist::require_identical(world(), p, "the parameters", 7),
                      Catch::Contains("the parameters differ across ranks at step 7"));
}

TEST_CASE("mpi: evaluation split over 2 ranks counts every clip once and equals one process's", "[mpi]") {
  const train::TrainConfig c = config(shared_dir() + "/unused", 2);
  auto model = models::create_model(train::model_config_of(c));
  const train::Evaluation split = train::evaluate(*model, task().eval, 4, Device::CPU, 0, &world());
  const train::Evaluation one = train::evaluate(*model, task().eval, 4, Device::CPU, 0);
  CHECK(split.metrics.clips == 13);
  CHECK(one.metrics.clips == 13);
  CHECK(split.metrics.present == one.metrics.present);
  CHECK(split.metrics.map == Approx(one.metrics.map).epsilon(1e-6));
  CHECK(split.metrics.mauc == Approx(one.metrics.mauc).epsilon(1e-6));
  CHECK(split.loss == Approx(one.loss).epsilon(1e-6));
}

TEST_CASE("mpi: 2-rank training equals one process with the same total batch, and repeats bit for bit", "[mpi]") {
  const std::string a = shared_dir() + "/ranks2_a", b = shared_dir() + "/ranks2_b", one = shared_dir() + "/one";
  const train::TrainOutcome oa = train::run_training(config(a, 2), false, 0, &world());
  const train::TrainOutcome ob = train::run_training(config(b, 2), false, 0, &world());
  REQUIRE(oa.finished);
  REQUIRE(oa.steps == 6);
  REQUIRE(ob.finished);
  CHECK(oa.final_eval.metrics.map == ob.final_eval.metrics.map);
  // Rank 0 alone: the same total batch (4 x 2) in one process; rank 1 waits.
  if (world().rank() == 0) {
    auto local = dist::local_communicator();
    const train::TrainOutcome o1 = train::run_training(config(one, 4), false, 0, local.get());
    REQUIRE(o1.finished);
    REQUIRE(o1.steps == 6);
    // The total batch is split differently (mean of 2 per-rank means vs one mean of 4, summed in another
    // order), so the gradients differ by float rounding, which Adam's normalisation can amplify where a
    // gradient is near zero: losses agree to 1e-5 relative, weights to 1e-5 absolute (measured on 2 x86 cores:
    // weights 1.2e-7, printed below).
    const std::vector<double> la = losses(a), l1 = losses(one);
    REQUIRE(la.size() == 6);
    REQUIRE(l1.size() == 6);
    double worst_loss = 0;
    for (size_t i = 0; i < la.size(); ++i) {
      INFO("step " << i + 1);
      CHECK(la[i] == Approx(l1[i]).epsilon(1e-5));
      worst_loss = std::max(worst_loss, std::fabs(la[i] - l1[i]) / std::fabs(l1[i]));
    }
    CHECK(oa.final_eval.metrics.map == Approx(o1.final_eval.metrics.map).margin(1e-3));
    const std::string ck = "/checkpoint-000000006/";
    for (const char* file : {"model.safetensors", "model_ema.safetensors", "optimizer.safetensors"}) {
      INFO(file);
      // Two 2-rank runs: the same bytes.
      CHECK(test::read_bytes(a + ck + file) == test::read_bytes(b + ck + file));
    }
    const double worst = largest_weight_difference(a + ck + "model.safetensors", one + ck + "model.safetensors");
    UNSCOPED_INFO("largest weight difference, 2 ranks vs 1 process: " << worst);
    CHECK(worst < 1e-5);
    std::printf("2 ranks vs 1 process, 6 steps: largest weight difference %.3g, largest relative loss difference %.3g\n",
                worst, worst_loss);
  }
  world().barrier();
}

TEST_CASE("mpi: a 2-rank run stopped mid-epoch and resumed equals an uninterrupted one; 1 rank needs the total batch",
          "[mpi]") {
  const std::string whole = shared_dir() + "/whole", parts = shared_dir() + "/parts";
  REQUIRE(train::run_training(config(whole, 2), false, 0, &world()).finished);
  REQUIRE_FALSE(train::run_training(config(parts, 2), false, /*stop_after=*/2, &world()).finished);
  if (world().rank() == 0) {  // before the resume writes on: the checkpoint of step 2 records 2 ranks x 2 clips
    auto local = dist::local_communicator();
    REQUIRE_THROWS_WITH(train::run_training(config(parts, 2), true, 0, local.get()),
                        "loader state: saved by a run of 2 rank(s) x 2 clips per micro-batch (4 in all), this run has "
                        "1 x 2 (2): keep the total: --train.batch 4");
  }
  world().barrier();
  REQUIRE(train::run_training(config(parts, 2), true, 0, &world()).finished);
  if (world().rank() == 0) {
    for (const char* file : {"model.safetensors", "model_ema.safetensors", "optimizer.safetensors"}) {
      INFO(file);
      CHECK(test::read_bytes(whole + "/checkpoint-000000006/" + file) ==
            test::read_bytes(parts + "/checkpoint-000000006/" + file));
    }
    CHECK(losses(parts) == losses(whole));  // every step logged once
  }
  world().barrier();
}

TEST_CASE("mpi: a run resumed on another number of ranks with the total batch kept ends as the uninterrupted run",
          "[mpi]") {
  // 2 ranks x 2 clips for 2 steps, then 1 process x 4 clips; and 1 process x 4 clips, then 2 ranks x 2. Every
  // step trains the same clips as the uninterrupted run; the gradient sums' order differs (float rounding, as
  // between the 2-rank and the 1-process run above): the same tolerances.
  const std::string two = shared_dir() + "/resize_two", one = shared_dir() + "/resize_one",
                    two_one = shared_dir() + "/resize_2to1", one_two = shared_dir() + "/resize_1to2";
  REQUIRE(train::run_training(config(two, 2), false, 0, &world()).finished);
  REQUIRE_FALSE(train::run_training(config(two_one, 2), false, /*stop_after=*/2, &world()).finished);
  std::unique_ptr<dist::Communicator> local = world().rank() == 0 ? dist::local_communicator() : nullptr;
  if (world().rank() == 0) {
    REQUIRE(train::run_training(config(one, 4), false, 0, local.get()).finished);
    REQUIRE(train::run_training(config(two_one, 4), true, 0, local.get()).finished);
    REQUIRE_FALSE(train::run_training(config(one_two, 4), false, /*stop_after=*/2, local.get()).finished);
  }
  world().barrier();
  REQUIRE(train::run_training(config(one_two, 2), true, 0, &world()).finished);
  if (world().rank() == 0) {
    const std::string ck = "/checkpoint-000000006/model.safetensors";
    const double d21 = largest_weight_difference(two_one + ck, one + ck);
    const double d12 = largest_weight_difference(one_two + ck, two + ck);
    CHECK(d21 < 1e-5);
    CHECK(d12 < 1e-5);
    const std::vector<double> l21 = losses(two_one), l12 = losses(one_two), l1 = losses(one), l2 = losses(two);
    REQUIRE(l21.size() == 6);
    REQUIRE(l12.size() == 6);
    for (size_t i = 0; i < 6; ++i) {
      INFO("step " << i + 1);
      CHECK(l21[i] == Approx(l1[i]).epsilon(1e-5));
      CHECK(l12[i] == Approx(l2[i]).epsilon(1e-5));
    }
    CHECK_THAT(test::read_bytes(two_one + "/config.toml"), Catch::Contains("\nbatch = 4\n"));
    std::printf("resumed on another number of ranks, 6 steps: largest weight difference 2->1 %.3g, 1->2 %.3g\n",
                d21, d12);
  }
  world().barrier();
}

TEST_CASE("mpi: a BatchNorm model with a bad clip: replicas stay identical, bad clips are counted once", "[mpi]") {
  // BatchNorm's running statistics are broadcast before every forward; clip 3 is silent and left out by
  // whichever rank holds it, so the ranks' micro-batches differ in size for one step.
  const std::string data = shared_dir() + "/one_silent.h5";
  if (world().rank() == 0) test::write_synthetic_task(data, 24, 1, /*silent=*/{3});
  world().barrier();
  std::vector<std::string> runs;
  for (const char* name : {"/bn_a", "/bn_b"}) {
    train::TrainConfig c = config(shared_dir() + name, 3);  // 3 clips: 2 left beside the bad one (BatchNorm needs 2)
    c.model.norm = "batch";
    c.data.train = data;
    REQUIRE(train::run_training(c, false, 0, &world()).finished);  // check_every = 1: compared every step
    runs.push_back(c.train.out);
  }
  if (world().rank() == 0) {
    const std::string ck = "/checkpoint-000000004/model.safetensors";  // 12 clips per rank: 2 steps per epoch
    CHECK(test::read_bytes(runs[0] + ck) == test::read_bytes(runs[1] + ck));
    std::ifstream log(runs[0] + "/log.jsonl");
    int epochs = 0;
    for (std::string line; std::getline(log, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j["type"] != "epoch") continue;
      ++epochs;
      CHECK(j["bad_clips"] == 1);  // summed over the ranks: the one rank that met it
      CHECK(j["silent"] == 1);
    }
    CHECK(epochs == 2);
    // The split evaluation used rank 0's running statistics on both ranks: rank 0's checkpoint, evaluated in
    // one process, gives the metrics recorded at that evaluation.
    const std::string last = runs[0] + "/checkpoint-000000004";
    auto model = models::create_model(models::model_config_from_file(last + "/model.safetensors", ""));
    load_module(*model, last + "/model.safetensors");
    const train::Evaluation e = train::evaluate(*model, task().eval, 4, Device::CPU, 0);
    std::ifstream state_file(last + "/state.json");
    const auto state = nlohmann::json::parse(state_file);
    CHECK(e.metrics.map == Approx(state["eval"]["map"].get<double>()).epsilon(1e-9));
    CHECK(e.loss == Approx(state["eval"]["loss"].get<double>()).epsilon(1e-6));
  }
  world().barrier();
}

TEST_CASE("mpi: a training error on one rank ends every rank, with its message", "[.][abort]") {
  // Clip 3 is silent and data.bad_clips = stop: the rank whose shard holds it stops the run while the other
  // waits in the gradient all-reduce.
  const std::string data = shared_dir() + "/silent.h5";
  if (world().rank() == 0) test::write_synthetic_task(data, 24, 1, /*silent=*/{3});
  world().barrier();
  train::TrainConfig c = config(shared_dir() + "/stopped", 2);
  c.data.train = data;
  c.data.bad_clips = "stop";
  train::run_training(c, false, 0, &world());
  FAIL("the run went past a silent clip with data.bad_clips = stop");
}

TEST_CASE("mpi: a rank that dies mid-step ends the job", "[.][die]") {
  world().barrier();
  if (world().rank() == 1) _exit(7);
  Tensor t = Tensor::zeros({16});
  world().all_reduce(t, dist::ReduceOp::sum);  // rank 1 never arrives
  FAIL("the all_reduce returned without rank 1");
}

TEST_CASE("mpi: a rank that hangs past the timeout ends the job", "[.][hang]") {
  auto comm = dist::connect(Device::CPU, 2);  // a 2 s timeout on the same MPI world
  comm->barrier();
  if (comm->rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(30));
  comm->barrier();  // rank 0's watchdog fires after 2 s
  FAIL("the barrier returned while rank 1 slept");
}
