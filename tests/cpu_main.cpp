// CPU test suite: every test here runs without a GPU (CI).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/cpu_dispatch.h"

#include "tests/harness/register.h"

int main(int argc, char** argv) {
  engine::flush_denormals();  // as every app does (engine/app_main.h)
  testing::register_op_tests(testing::Driver::gradcheck);
  testing::register_op_tests(testing::Driver::f32);
  return Catch::Session().run(argc, argv);
}
