// The MPI backend (engine/distributed.h) for CPU ranks: MPI_COMM_WORLD, blocking collectives in place.
// MPI is initialised once per process (MPI_THREAD_FUNNELED: only the thread that trains calls MPI; loader
// workers and the watchdog never do) and finalised at exit; an error path ends with MPI_Abort instead, as
// MPI_Finalize would wait for peers that may be stuck in a collective.
#include <mpi.h>

#include <climits>
#include <cstdlib>

#include "engine/check.h"
#include "engine/distributed_backend.h"

namespace engine::dist {

namespace {

#define MPI_CHECK(expr)                                                                             \
  do {                                                                                              \
    const int rc_ = (expr);                                                                         \
    if (rc_ != MPI_SUCCESS) {                                                                       \
      char msg_[MPI_MAX_ERROR_STRING];                                                              \
      int len_ = 0;                                                                                 \
      MPI_Error_string(rc_, msg_, &len_);                                                           \
      ::engine::detail::fail_internal(__FILE__, __LINE__, #expr, std::string(msg_, size_t(len_)));  \
    }                                                                                               \
  } while (0)

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void init_once(const LaunchInfo& info) {
  int initialized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  if (initialized) return;
  int provided = 0;
  MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  // Errors come back as codes (MPI_CHECK) rather than MPI's default abort without a location.
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  std::atexit(finalize_at_exit);
  int rank = 0, size = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
  USER_CHECK(rank == info.rank && size == info.size, "MPI says rank ", rank, " of ", size, ", ",
             launcher_name(info.launcher), "'s variables rank ", info.rank, " of ", info.size,
             " (the binary's MPI is not the launcher's: use Open MPI's mpirun)");
}

MPI_Datatype mpi_type(DType t) {
  USER_CHECK(t == DType::f32 || t == DType::f64, "MPI collectives take f32 or f64 tensors, not ", dtype_name(t));
  return t == DType::f32 ? MPI_FLOAT : MPI_DOUBLE;
}

int count_of(const Tensor& t) {
  ENGINE_CHECK(t.device() == Device::CPU, "the MPI backend takes CPU tensors");
  ENGINE_CHECK(t.numel() <= INT_MAX, "MPI collective of ", t.numel(), " elements (more than INT_MAX)");
  return int(t.numel());
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(const LaunchInfo& info, double timeout_s)
      : rank_(info.rank), size_(info.size), watchdog_(rank_label(info.rank, info.size, "mpi"), timeout_s) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  Device device() const override { return Device::CPU; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    const int n = count_of(t);
    {
      WatchGuard g(watchdog_, "all_reduce");
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), n, mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD));
    }
    if (op == ReduceOp::average) {  // a division, as NCCL's average: x / W, not x * (1 / W)
      if (t.dtype() == DType::f32) {
        float* p = t.data<float>();
        for (int i = 0; i < n; ++i) p[i] /= float(size_);
      } else {
        double* p = t.data<double>();
        for (int i = 0; i < n; ++i) p[i] /= double(size_);
      }
    }
  }

  void broadcast(Tensor& t, int root) override {
    const int n = count_of(t);
    WatchGuard g(watchdog_, "broadcast");
    MPI_CHECK(MPI_Bcast(t.raw_data(), n, mpi_type(t.dtype()), root, MPI_COMM_WORLD));
  }

  void all_gather(const Tensor& in, Tensor& out) override {
    const int n = count_of(in);
    ENGINE_CHECK(count_of(out) == n * size_, "all_gather: out has ", out.numel(), " elements, not ", n, " x ", size_);
    ENGINE_CHECK(in.dtype() == out.dtype(), "all_gather: in and out dtypes differ");
    WatchGuard g(watchdog_, "all_gather");
    MPI_CHECK(MPI_Allgather(in.raw_data(), n, mpi_type(in.dtype()), out.raw_data(), n, mpi_type(out.dtype()),
                            MPI_COMM_WORLD));
  }

  void barrier() override {
    WatchGuard g(watchdog_, "barrier");
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
  }


 protected:
  void abort_job(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }

 private:
  int rank_, size_;
  Watchdog watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> mpi_communicator(const LaunchInfo& info, double timeout_s) {
  init_once(info);
  return std::make_unique<MpiCommunicator>(info, timeout_s);
}

void mpi_broadcast_bytes(void* data, int bytes, const LaunchInfo& info, double timeout_s) {
  init_once(info);
  Watchdog dog(rank_label(info.rank, info.size, "mpi"), timeout_s);
  WatchGuard g(dog, "the broadcast of the NCCL id");
  MPI_CHECK(MPI_Bcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD));
}

}  // namespace engine::dist
