// Every differentiable op registers its name here from its own source file (ENGINE_REGISTER_OP).
// The test suite reads this list and fails if an op has no gradient check.
#pragma once
#include <string>
#include <vector>

namespace engine::ops {

struct OpRegistrar {
  explicit OpRegistrar(const char* name);
};
const std::vector<std::string>& registered_ops();

}  // namespace engine::ops

#define ENGINE_REGISTER_OP(name) static ::engine::ops::OpRegistrar engine_op_registrar_##name(#name)
