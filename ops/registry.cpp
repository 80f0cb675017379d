#include "ops/registry.h"

#include <algorithm>

#include "engine/check.h"

namespace engine::ops {

static std::vector<std::string>& ops_list() {
  static std::vector<std::string> ops;
  return ops;
}

OpRegistrar::OpRegistrar(const char* name) {
  auto& ops = ops_list();
  ENGINE_CHECK(std::find(ops.begin(), ops.end(), name) == ops.end(), "op registered twice: ", name);
  ops.push_back(name);
}

const std::vector<std::string>& registered_ops() { return ops_list(); }

}  // namespace engine::ops
