// Data-parallel bootstrap without MPI: the launcher variables (mpirun, srun, torchrun-style) and their user
// errors, the TCP rendezvous between threads (the payload arrives; a wrong world size, a rank given twice, an
// unreachable master and a missing rank each fail with their message within the timeout), the local
// communicator, and the unpadded evaluation shards of the loader.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <unistd.h>

#include "data/loader.h"
#include "engine/check.h"
#include "engine/distributed.h"
#include "engine/distributed_env.h"

using namespace engine;
using namespace engine::dist;

namespace {

LaunchInfo info_of(const std::map<std::string, std::string>& env) {
  return launch_info([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// A port for this test, from the process id, away from the common ones (29500).
int test_port(int k) { return 20000 + int(::getpid() % 5000) * 4 + k; }

LaunchInfo torchrun(int rank, int size, int port) {
  return info_of({{"RANK", std::to_string(rank)},
                  {"WORLD_SIZE", std::to_string(size)},
                  {"LOCAL_RANK", std::to_string(rank)},
                  {"MASTER_ADDR", "127.0.0.1"},
                  {"MASTER_PORT", std::to_string(port)}});
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("distributed: launcher variables", "[distributed]") {
  CHECK(info_of({}).launcher == Launcher::none);
  CHECK(info_of({}).size == 1);
  const LaunchInfo m = info_of({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"},
                                {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"SLURM_STEP_NUM_TASKS", "8"}});
  CHECK(m.launcher == Launcher::mpirun);  // mpirun inside a SLURM allocation
  CHECK((m.rank == 3 && m.size == 4 && m.local_rank == 1));
  const LaunchInfo s = info_of({{"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "1"},
                                {"MASTER_ADDR", "node1"}, {"MASTER_PORT", "29500"}});
  CHECK(s.launcher == Launcher::srun);
  CHECK((s.rank == 5 && s.size == 8 && s.master_addr == "node1" && s.master_port == 29500));
  const LaunchInfo t = torchrun(1, 2, 29500);
  CHECK(t.launcher == Launcher::torchrun);
  CHECK((t.rank == 1 && t.size == 2 && t.local_rank == 1));
  // The batch script of an sbatch job (SLURM_NTASKS, no step): one process.
  CHECK(info_of({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "0"}}).launcher == Launcher::none);
}

TEST_CASE("distributed: missing, malformed or inconsistent variables are one clear error", "[distributed]") {
  CHECK_THROWS_WITH(info_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}}),
                    "LOCAL_RANK is not set (a torchrun-style launch sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, "
                    "MASTER_PORT on every rank)");
  CHECK_THROWS_WITH(info_of({{"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}}), Catch::StartsWith("RANK is not set"));
  CHECK_THROWS_WITH(info_of({{"RANK", "x1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}}),
                    "RANK='x1': not a non-negative integer");
  CHECK_THROWS_WITH(info_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}}),
                    "rank 2 is not below the world size 2 (torchrun-style variables)");
  CHECK_THROWS_WITH(info_of({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "0"},
                             {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"WORLD_SIZE", "3"}}),
                    "WORLD_SIZE=3 but mpirun started 2 ranks (OMPI_COMM_WORLD_SIZE=2)");
  CHECK_THROWS_WITH(info_of({{"OMPI_COMM_WORLD_SIZE", "2"}}), Catch::StartsWith("OMPI_COMM_WORLD_RANK is not set"));
  CHECK_THROWS_WITH(info_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_PORT", "70000"}}),
                    "MASTER_PORT=70000: not a port (1-65535)");
  CHECK_THROWS_WITH(rendezvous(info_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}}), "", 1),
                    Catch::Contains("needs MASTER_ADDR and MASTER_PORT"));
}

TEST_CASE("distributed: the rendezvous hands rank 0's payload to every rank", "[distributed]") {
  const int port = test_port(0), W = 3;
  const std::string id(128, '\x07');  // an NCCL unique id is 128 bytes
  std::vector<std::future<std::string>> ranks;
  for (int r = W - 1; r >= 0; --r)  // the others first: they wait for the master
    ranks.push_back(std::async(std::launch::async, [=] { return rendezvous(torchrun(r, W, port), r == 0 ? id : "", 10); }));
  for (auto& f : ranks) CHECK(f.get() == id);
}

TEST_CASE("distributed: a wrong world size or a rank given twice fails the rendezvous on both sides", "[distributed]") {
  const int port = test_port(1);
  auto master = std::async(std::launch::async, [=] { return rendezvous(torchrun(0, 2, port), "id", 10); });
  auto wrong = std::async(std::launch::async, [=] { return rendezvous(torchrun(1, 3, port), "", 10); });
  CHECK_THROWS_WITH(wrong.get(), "rank 1 of 3: the master at MASTER_ADDR:MASTER_PORT 127.0.0.1:" +
                                     std::to_string(port) +
                                     " has world size 2, this rank was started with 3: every rank needs the same WORLD_SIZE");
  CHECK_THROWS_WITH(master.get(), Catch::Contains("rank 0 of 2: a rank (its RANK 1) was started with world size 3, "
                                                  "this one with 2"));

  const int port2 = test_port(2);
  auto master3 = std::async(std::launch::async, [=] { return rendezvous(torchrun(0, 3, port2), "id", 10); });
  auto first = std::async(std::launch::async, [=] { return rendezvous(torchrun(1, 3, port2), "", 10); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto twice = std::async(std::launch::async, [=] { return rendezvous(torchrun(1, 3, port2), "", 10); });
  std::set<std::string> messages;
  for (auto* f : {&first, &twice}) {
    try {
      f->get();
    } catch (const UserError& e) {
      messages.insert(e.what());
    }
  }
  CHECK(messages.count("rank 1 of 3: the master already has a rank 1: two processes were given the same RANK") == 1);
  CHECK_THROWS_WITH(master3.get(), Catch::Contains("rank 1 arrived twice"));
}

TEST_CASE("distributed: an unreachable master or a missing rank fails within the timeout", "[distributed]") {
  const int port = test_port(3);  // nobody listens there
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(rendezvous(torchrun(1, 2, port), "", 1),
                    "rank 1 of 2: no answer from the master (rank 0) at MASTER_ADDR:MASTER_PORT 127.0.0.1:" +
                        std::to_string(port) + " within 1 s (is rank 0 running, and that address reachable from here?)");
  CHECK(seconds_since(t0) < 3);
  t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(rendezvous(torchrun(0, 3, port), "id", 1),
                    "rank 0 of 3: 2 of 2 other ranks did not arrive at MASTER_PORT " + std::to_string(port) +
                        " within 1 s (missing ranks: 1, 2)");
  CHECK(seconds_since(t0) < 3);
}

TEST_CASE("distributed: one rank, no launcher: the local communicator changes nothing", "[distributed]") {
  auto c = local_communicator();
  CHECK((c->rank() == 0 && c->size() == 1));
  Tensor t = Tensor::from_vector<float>({1, 2}, {2});
  c->all_reduce(t, ReduceOp::average);
  c->broadcast(t, 0);
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2});
  Tensor g = Tensor::zeros({2});
  c->all_gather(t, g);
  CHECK(g.to_vector<float>() == std::vector<float>{1, 2});
  require_identical(*c, t, "x", 1);
  CHECK(checksum(t) != checksum(Tensor::from_vector<float>({1, 2.0000002f}, {2})));
}

TEST_CASE("distributed: unpadded shards visit every clip exactly once", "[distributed][loader]") {
  for (int world : {1, 2, 3, 4}) {
    std::multiset<int64_t> seen;
    for (int rank = 0; rank < world; ++rank) {
      const auto mine = data::shard_indices(13, 0, 0, false, false, rank, world, /*pad=*/false);
      CHECK(int64_t(mine.size()) == (13 - rank + world - 1) / world);
      for (size_t k = 0; k < mine.size(); ++k) CHECK(mine[k] == rank + int64_t(k) * world);
      seen.insert(mine.begin(), mine.end());
    }
    CHECK(seen.size() == 13);
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 13);
  }
}
