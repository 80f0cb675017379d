// Registers one Catch2 test case per op of the case registry (called from main before the session runs).
#pragma once
namespace testing {
enum class Driver { gradcheck, parity, f32 };
void register_op_tests(Driver driver);
}  // namespace testing
