// How this process was launched, from its environment, and the TCP rendezvous that starts NCCL without MPI.
//   mpirun (Open MPI)  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   srun (SLURM step)  SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID (the batch script itself, outside
//                      srun, has no SLURM_STEP_NUM_TASKS and is one process)
//   torchrun-style     RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
// The first launcher found wins (mpirun inside a SLURM allocation is mpirun); torchrun-style RANK/WORLD_SIZE
// set beside mpirun or srun must agree with it. MASTER_ADDR/MASTER_PORT are needed where a rendezvous is:
// NCCL ranks not started by mpirun.
#pragma once
#include <functional>
#include <string>

namespace engine::dist {

enum class Launcher { none, mpirun, srun, torchrun };
const char* launcher_name(Launcher l);

struct LaunchInfo {
  Launcher launcher = Launcher::none;
  int rank = 0, size = 1, local_rank = 0;
  std::string master_addr;  // "" when MASTER_ADDR is not set
  int master_port = 0;      // 0 when MASTER_PORT is not set
};

// `getenv` returns nullptr for an unset variable (std::getenv by default; tests pass their own).
// UserError, one line naming the variables, for a missing, malformed or inconsistent set.
using EnvLookup = std::function<const char*(const char*)>;
LaunchInfo launch_info(const EnvLookup& getenv);
LaunchInfo launch_info();

// UserError unless MASTER_ADDR and MASTER_PORT were given (`why`: what needs them).
void require_master(const LaunchInfo& info, const char* why);

// Rank 0 listens on MASTER_PORT (all interfaces) for the other size - 1 ranks and sends each `payload`;
// every other rank connects to MASTER_ADDR:MASTER_PORT (retrying while the master is not up yet) and returns
// the payload. Each rank says its rank and world size; the master refuses a wrong world size, a rank out of
// range or twice, and both sides report it. UserError naming the rank, the address and timeout_s when a peer
// does not arrive (or the master does not answer) in time.
std::string rendezvous(const LaunchInfo& info, const std::string& payload, double timeout_s);

}  // namespace engine::dist
