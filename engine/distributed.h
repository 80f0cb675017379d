// Data-parallel communication: one process per rank, every rank holding a replica of the model.
//   Communicator  collectives over tensors of one device, in place, blocking (on return the result is in the
//                 tensor, for CUDA tensors with the engine's stream synchronised): all_reduce (sum or average),
//                 broadcast from a root, all_gather, barrier. Every rank must call the same collectives in the
//                 same order with the same shapes.
//   backends      local (size 1, every call a no-op: a single process computes exactly what it did before
//                 communicators existed), MPI (CPU tensors; engine/distributed_mpi.cpp), NCCL (CUDA tensors,
//                 one GPU per process; engine/distributed_nccl.cpp, built when ENGINE_NCCL).
//   connect()     the communicator the launcher's environment describes (engine/distributed_env.h).
//   timeouts      a collective that does not complete within the timeout (a peer died, hung, or took another
//                 code path) ends the process with a message naming the rank and the collective: never a hang.
// Dimension letters: W world size, n elements per rank.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace engine::dist {

enum class ReduceOp { sum, average };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "local", "mpi", "nccl"
  virtual Device device() const = 0;        // where its tensors live (local: CPU, though it touches none)

  // t: f32 or f64, contiguous. average divides the sum by W.
  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  virtual void broadcast(Tensor& t, int root) = 0;
  // in (n) -> out (W * n), rank r's elements at [r * n, (r + 1) * n).
  virtual void all_gather(const Tensor& in, Tensor& out) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job (MPI_Abort; NCCL: this process, its peers' collectives then fail or time out).
  // For errors after connect(): a rank that simply returned could leave its peers waiting in a collective.
  [[noreturn]] void abort(int exit_code) {
    abort_job(exit_code);
    std::_Exit(exit_code);  // where the backend's abort returns, or ends only the others
  }

 protected:
  virtual void abort_job(int exit_code) = 0;
};

// The size-1 communicator: rank 0 of 1, collectives leave tensors as they are.
std::unique_ptr<Communicator> local_communicator();

// The communicator of this process from the launcher's variables (mpirun, srun, or torchrun-style RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): local when none are set or the world has one rank, MPI
// for CPU ranks, NCCL for CUDA ranks (which also selects GPU LOCAL_RANK). UserError when the variables are
// missing or inconsistent, when the build lacks the backend, or when a peer does not arrive within
// timeout_s seconds (also the timeout of every later collective).
std::unique_ptr<Communicator> connect(Device device, double timeout_s);

// A 64-bit hash of a tensor's bytes (host copy for CUDA tensors): equal replicas hash equal.
uint64_t checksum(const Tensor& t);

// UserError on every rank when `t` (e.g. the parameters) is not bit-identical on all ranks: the message
// names `what`, the step and each rank's checksum. One all_gather of two f64 per rank.
void require_identical(Communicator& comm, const Tensor& t, const std::string& what, int64_t step);

}  // namespace engine::dist
