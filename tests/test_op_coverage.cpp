// The op registry (ops/registry.h) against the gradient-check cases: an op without one fails here.
#include <catch2/catch.hpp>
#include <algorithm>

#include "ops/registry.h"
#include "tests/harness/op_cases.h"

TEST_CASE("every registered op has a gradient check", "[coverage]") {
  const auto& ops = engine::ops::registered_ops();
  REQUIRE(ops.size() >= 5);
  for (const auto& op : ops) {
    INFO("op " << op << " has no cases in tests/ops/ (REGISTER_OP_CASES)");
    auto it = testing::op_case_registry().find(op);
    REQUIRE(it != testing::op_case_registry().end());
    REQUIRE(!it->second().empty());
  }
  for (const auto& kv : testing::op_case_registry()) {
    INFO("test cases registered for an op the engine does not register: " << kv.first);
    REQUIRE(std::find(ops.begin(), ops.end(), kv.first) != ops.end());
  }
}
