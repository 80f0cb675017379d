// A golden safetensors file written by a tools/ generator (header-only): tensors by name, metadata by key.
// A missing entry fails the current test with a message naming it.
#pragma once
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "engine/safetensors.h"

namespace engine::test {

class GoldenFile {
 public:
  explicit GoldenFile(const std::string& path) {
    SafetensorsFile f = load_safetensors(path);
    for (auto& [name, t] : f.tensors) tensors_[name] = t;
    meta_ = f.metadata;
  }

  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const Tensor& at(const std::string& name) const {
    INFO("golden tensor " << name);
    auto it = tensors_.find(name);
    REQUIRE(it != tensors_.end());
    return it->second;
  }
  template <class T>
  std::vector<T> vec(const std::string& name) const {
    return at(name).to_vector<T>();
  }
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  const std::string& meta(const std::string& key) const {
    INFO("golden metadata " << key);
    auto it = meta_.find(key);
    REQUIRE(it != meta_.end());
    return it->second;
  }
  int meta_int(const std::string& key) const { return std::stoi(meta(key)); }

 private:
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> meta_;
};

}  // namespace engine::test
