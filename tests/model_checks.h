// Checks shared by the audio-tagger tests (test_model_*.cpp).
//   check_state_dict_listing   our state_dict() keys, shapes and order against a PyTorch listing
//                              (tests/data/statedicts/statedict_<model>.txt: "name\t[d0, d1, ...]\tfloat32")
//   check_finite_gradients     after a backward: every unique parameter has a finite, non-zero gradient
//   random_input               a reproducible (N, H, W, 1) log-mel-like input
//   full_model                 the paper-size model of a name, built once per test run (seconds each)
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/init.h"
#include "engine/module.h"
#include "models/audio_model.h"

namespace engine::test {

struct ListingEntry {
  std::string name;
  std::string shape;  // as PyTorch prints it, e.g. "[96, 1, 7, 7]"
  std::string dtype;  // "float32"
};

inline std::vector<ListingEntry> read_state_dict_listing(const std::string& model) {
  const std::string path = std::string(ENGINE_TEST_DATA_DIR) + "/statedicts/statedict_" + model + ".txt";
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<ListingEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    ListingEntry e;
    std::getline(fields, e.name, '\t');
    std::getline(fields, e.shape, '\t');
    std::getline(fields, e.dtype, '\t');
    out.push_back(e);
  }
  return out;
}

inline std::string torch_shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

inline void check_state_dict_listing(const Module& m, const std::string& model, size_t expected_keys) {
  const std::vector<ListingEntry> want = read_state_dict_listing(model);
  const NamedTensors got = m.state_dict();
  REQUIRE(want.size() == expected_keys);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("key " << i << " of " << model);
    CHECK(got[i].first == want[i].name);
    CHECK(torch_shape_str(got[i].second.shape()) == want[i].shape);
    CHECK(want[i].dtype == "float32");
    CHECK(got[i].second.dtype() == DType::f32);
  }
}

inline void check_finite_gradients(const Module& m) {
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
    bool finite = true, nonzero = false;
    for (float g : p.grad().to_vector<float>()) {
      finite = finite && std::isfinite(g);
      nonzero = nonzero || g != 0.f;
    }
    CHECK(finite);
    CHECK(nonzero);
  }
}

inline Tensor random_input(const Shape& shape, uint64_t seed) {
  Tensor x = Tensor::empty(shape);  // (N, H, W, 1)
  Generator gen(seed);
  init_normal(x, 0.0, 1.0, gen);
  return x;
}

inline std::shared_ptr<models::AudioTagger> full_model(const std::string& name) {
  static std::map<std::string, std::shared_ptr<models::AudioTagger>> built;
  auto& m = built[name];
  if (!m) m = models::create_model(models::default_config(name));
  return m;
}

}  // namespace engine::test
