// GPU test suite (CTest label `gpu`). Without a CUDA device every test exits with CTest's skip code and
// says so, so a CPU-only run shows them as skipped rather than passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/cpu_dispatch.h"
#include <cstdio>
#include <string>

#include "engine/memory.h"
#include "tests/harness/register.h"

int main(int argc, char** argv) {
  engine::flush_denormals();  // as every app does (engine/app_main.h)
  testing::register_op_tests(testing::Driver::parity);
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--list", 0) == 0) listing = true;
  if (!listing && !engine::cuda_available()) {
    std::printf("SKIPPED: no CUDA device (or engine built without CUDA); GPU test not run\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
