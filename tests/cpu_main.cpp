// CPU test suite: every test here runs without a GPU (CI).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/harness/register.h"

int main(int argc, char** argv) {
  testing::register_op_tests(testing::Driver::gradcheck);
  return Catch::Session().run(argc, argv);
}
