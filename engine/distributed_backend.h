// What the communicator backends share (engine/distributed*.cpp only): the collective watchdog and the
// backends' constructors.
#pragma once
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/distributed.h"
#include "engine/distributed_env.h"

namespace engine::dist {

// A thread that ends the process (exit code 2, one line on stderr naming `who` and the collective) when a
// collective stays armed longer than timeout_s. It exits rather than throws: the stuck thread is inside the
// backend's library and cannot be unwound, and an exit is what makes mpirun (or the peers' own watchdogs)
// end the rest of the job.
class Watchdog {
 public:
  Watchdog(std::string who, double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  void arm(const char* what);  // what: a string literal
  void disarm();
  double timeout_s() const { return timeout_s_; }

 private:
  void run();
  const std::string who_;
  const double timeout_s_;
  std::mutex mutex_;
  std::condition_variable cv_;
  const char* what_ = nullptr;  // armed when non-null
  std::chrono::steady_clock::time_point deadline_;
  bool stop_ = false;
  std::thread thread_;
};

struct WatchGuard {
  Watchdog& w;
  WatchGuard(Watchdog& dog, const char* what) : w(dog) { w.arm(what); }
  ~WatchGuard() { w.disarm(); }
};

// "rank 1 of 4 (mpi)"
std::string rank_label(int rank, int size, const char* backend);

// CPU ranks over MPI_COMM_WORLD; MPI is initialised once per process and finalised at exit.
std::unique_ptr<Communicator> mpi_communicator(const LaunchInfo& info, double timeout_s);
// MPI_Bcast of raw bytes from rank 0 over MPI_COMM_WORLD (initialising MPI): the NCCL id under mpirun.
void mpi_broadcast_bytes(void* data, int bytes, const LaunchInfo& info, double timeout_s);
#if ENGINE_NCCL
std::unique_ptr<Communicator> nccl_communicator(const LaunchInfo& info, double timeout_s);
#endif

}  // namespace engine::dist
