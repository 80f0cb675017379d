// The MPI test program (tests/distributed/mpi_tests.cpp), started by mpirun: every rank runs it.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/cpu_dispatch.h"

int main(int argc, char** argv) {
  engine::flush_denormals();  // as every app does (engine/app_main.h)
  return Catch::Session().run(argc, argv);
}
