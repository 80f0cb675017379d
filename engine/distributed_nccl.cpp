// The NCCL backend (engine/distributed.h) for CUDA ranks, one GPU per process: GPU LOCAL_RANK (or the only
// visible one), collectives on the engine's stream, which is then synchronised under the watchdog (an NCCL
// collective whose peer is gone never completes). The unique id travels over MPI under mpirun, else over the
// TCP rendezvous (engine/distributed_env.h). Built only with ENGINE_NCCL.
#if ENGINE_NCCL
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/cuda_context.h"
#include "engine/distributed_backend.h"

#define NCCL_CHECK(expr)                                                                    \
  do {                                                                                      \
    ncclResult_t r_ = (expr);                                                               \
    if (r_ != ncclSuccess)                                                                  \
      ::engine::detail::fail_internal(__FILE__, __LINE__, #expr, ncclGetErrorString(r_));   \
  } while (0)

namespace engine::dist {

namespace {

ncclDataType_t nccl_type(DType t) {
  USER_CHECK(t == DType::f32 || t == DType::f64, "NCCL collectives here take f32 or f64 tensors, not ", dtype_name(t));
  return t == DType::f32 ? ncclFloat32 : ncclFloat64;
}

void require_cuda(const Tensor& t) { ENGINE_CHECK(t.device() == Device::CUDA, "the NCCL backend takes CUDA tensors"); }

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const LaunchInfo& info, double timeout_s)
      : rank_(info.rank), size_(info.size), watchdog_(rank_label(info.rank, info.size, "nccl"), timeout_s) {
    ncclUniqueId id;
    if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    if (info.launcher == Launcher::mpirun) {
      mpi_broadcast_bytes(&id, int(sizeof id), info, timeout_s);
    } else {
      const std::string mine(reinterpret_cast<const char*>(&id), sizeof id);
      const std::string got = rendezvous(info, mine, timeout_s);
      ENGINE_CHECK(got.size() == sizeof id, "rendezvous payload of ", got.size(), " bytes, not an NCCL id");
      std::memcpy(&id, got.data(), sizeof id);
    }
    WatchGuard g(watchdog_, "ncclCommInitRank");
    NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }
  Device device() const override { return Device::CUDA; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    require_cuda(t);
    NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()),
                             op == ReduceOp::average ? ncclAvg : ncclSum, comm_, cuda::stream()));
    wait("all_reduce");
  }

  void broadcast(Tensor& t, int root) override {
    require_cuda(t);
    NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t.dtype()), root, comm_,
                             cuda::stream()));
    wait("broadcast");
  }

  void all_gather(const Tensor& in, Tensor& out) override {
    require_cuda(in);
    require_cuda(out);
    ENGINE_CHECK(out.numel() == in.numel() * size_, "all_gather: out has ", out.numel(), " elements, not ",
                 in.numel(), " x ", size_);
    NCCL_CHECK(ncclAllGather(in.raw_data(), out.raw_data(), size_t(in.numel()), nccl_type(in.dtype()), comm_,
                             cuda::stream()));
    wait("all_gather");
  }

  void barrier() override {
    Tensor one = Tensor::zeros({1}, DType::f32, Device::CUDA);
    all_reduce(one, ReduceOp::sum);
  }


 protected:
  void abort_job(int) override { ncclCommAbort(comm_); }

 private:
  void wait(const char* what) {
    WatchGuard g(watchdog_, what);
    CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  }

  int rank_, size_;
  ncclComm_t comm_ = nullptr;
  Watchdog watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(const LaunchInfo& info, double timeout_s) {
  int devices = 0;
  CUDA_CHECK(cudaGetDeviceCount(&devices));
  // One visible GPU: the launcher gave each process its own (srun --gpus-per-task=1, CUDA_VISIBLE_DEVICES).
  const int gpu = devices == 1 ? 0 : info.local_rank;
  USER_CHECK(gpu < devices, "rank ", info.rank, ": local rank ", info.local_rank, " but this process sees ", devices,
             " GPUs (one process per GPU: at most ", devices, " ranks per node)");
  // Before the engine's stream and allocator exist: they live on the device current at their creation.
  CUDA_CHECK(cudaSetDevice(gpu));
  return std::make_unique<NcclCommunicator>(info, timeout_s);
}

}  // namespace engine::dist
#endif
