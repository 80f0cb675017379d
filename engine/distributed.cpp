// The local communicator, connect(), checksums and the collective watchdog (engine/distributed.h).
#include "engine/distributed.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/check.h"
#include "engine/distributed_backend.h"

namespace engine::dist {

namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "local"; }
  Device device() const override { return Device::CPU; }
  void all_reduce(Tensor&, ReduceOp) override {}  // the sum (and mean) of one replica is itself
  void broadcast(Tensor&, int root) override { ENGINE_CHECK(root == 0, "root ", root, " of a size-1 world"); }
  void all_gather(const Tensor& in, Tensor& out) override {
    ENGINE_CHECK(out.numel() == in.numel(), "all_gather: out has ", out.numel(), " elements, in ", in.numel());
    out.copy_(in.view(out.shape()));
  }
  void barrier() override {}

 protected:
  void abort_job(int) override {}  // no peers
};

}  // namespace

std::unique_ptr<Communicator> local_communicator() { return std::make_unique<LocalCommunicator>(); }

std::string rank_label(int rank, int size, const char* backend) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(size) + " (" + backend + ")";
}

std::unique_ptr<Communicator> connect(Device device, double timeout_s) {
  USER_CHECK(timeout_s > 0, "distributed timeout ", timeout_s, " s: must be positive");
  const LaunchInfo info = launch_info();
  if (info.size == 1) return local_communicator();
  if (device == Device::CPU) {
    USER_CHECK(info.launcher != Launcher::torchrun, "RANK/WORLD_SIZE set for CPU ranks: CPU ranks communicate over "
               "MPI, start them with mpirun -np ", info.size, " (torchrun-style variables start CUDA ranks, on NCCL)");
    return mpi_communicator(info, timeout_s);
  }
#if ENGINE_NCCL
  return nccl_communicator(info, timeout_s);
#else
  user_error(launcher_name(info.launcher), " started ", info.size,
             " CUDA ranks, but this engine was built without NCCL (install NCCL and configure with -DENGINE_NCCL=ON)");
#endif
}

uint64_t checksum(const Tensor& t) {
  const Tensor host = t.to(Device::CPU);
  const auto* bytes = static_cast<const unsigned char*>(host.raw_data());
  const size_t n = host.nbytes();
  // FNV-1a over 32-bit words (then the tail bytes): a bit flip anywhere changes it; ~1 ns per word.
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    std::memcpy(&w, bytes + i, 4);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < n; ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h;
}

void require_identical(Communicator& comm, const Tensor& t, const std::string& what, int64_t step) {
  if (comm.size() == 1) return;
  const uint64_t h = checksum(t);
  const int W = comm.size();
  // The hash as two 32-bit halves, each exact in an f64 (a bit pattern sent as one f64 could be a NaN).
  const Device d = comm.device();
  Tensor mine = Tensor::from_vector<double>({double(h >> 32), double(h & 0xffffffffu)}, {2}).to(d);
  Tensor all = Tensor::zeros({2 * int64_t(W)}, DType::f64, d);
  comm.all_gather(mine, all);
  const std::vector<double> v = all.to_vector<double>();
  bool same = true;
  std::string list;
  for (int r = 0; r < W; ++r) {
    const uint64_t hr = (uint64_t(v[size_t(2 * r)]) << 32) | uint64_t(v[size_t(2 * r + 1)]);
    same = same && hr == h;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s%d: %016" PRIx64, r ? ", " : "", r, hr);
    list += buf;
  }
  USER_CHECK(same, what, " differ across ranks at step ", step, " (checksums by rank ", list,
             "): the replicas diverged (a rank computed something else, or its memory was corrupted); stopping");
}

Watchdog::Watchdog(std::string who, double timeout_s)
    : who_(std::move(who)), timeout_s_(timeout_s), thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::arm(const char* what) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_s_));
  }
  cv_.notify_all();
}

void Watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    what_ = nullptr;
  }
  cv_.notify_all();
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (!what_) {
      cv_.wait(lock);
      continue;
    }
    const auto deadline = deadline_;
    cv_.wait_until(lock, deadline);
    if (what_ && !stop_ && std::chrono::steady_clock::now() >= deadline_) {
      std::fprintf(stderr,
                   "%s: %s did not complete within %g s (the distributed timeout): a peer rank died, hung or is "
                   "running other code; ending this rank\n",
                   who_.c_str(), what_, timeout_s_);
      std::fflush(stderr);
      std::fflush(stdout);
      _exit(2);
    }
  }
}

}  // namespace engine::dist
