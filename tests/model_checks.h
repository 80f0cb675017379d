// Checks shared by the audio-tagger tests (test_model_*.cpp).
//   check_state_dict_listing   our state_dict() keys, shapes, dtypes and order against a PyTorch listing
//                              (tests/data/statedicts/statedict_<model>.txt: "name\t[d0, d1, ...]\tfloat32";
//                              BatchNorm's num_batches_tracked is "int64")
//   check_full_model_listing   the paper-size model of a name: its listing and exact parameter count
//   find_tensor                a named tensor of a state_dict() / named_parameters() listing (undefined if absent)
//   check_dcls_pair_init       a stage's P/SIG pair as Dcls2dInit::paper draws it
//   check_dcls_stage_sharing   one P/SIG pair per stage, owned by the stage's first block, aliased by the others
//   check_full_model_shapes    eval forward of a paper-size model on a 10 s clip: stage shapes, finite logits
//   check_backward             forward + BCE + backward: every parameter gets a finite, non-zero gradient
//   check_drop_path            drop path: inactive in eval, drawn from the forward's Generator in training
//   check_finite_gradients     after a backward: every unique parameter has a finite, non-zero gradient
//   small_config               a small-width variant (depths 1,1,2,1; 5 classes) of a model name
//   random_input               a reproducible (N, H, W, 1) log-mel-like input
//   full_model                 the paper-size model of a name, built once per test run (seconds each)
// Dimension legend: N batch, H mel bins, W frames, K classes.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/init.h"
#include "engine/module.h"
#include "models/audio_model.h"
#include "ops/bce_loss.h"

namespace engine::test {

struct ListingEntry {
  std::string name;
  std::string shape;  // as PyTorch prints it, e.g. "[96, 1, 7, 7]"
  std::string dtype;  // "float32", or "int64" for BatchNorm's num_batches_tracked
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
    CHECK((want[i].dtype == "float32" || want[i].dtype == "int64"));
    CHECK(got[i].second.dtype() == (want[i].dtype == "int64" ? DType::i64 : DType::f32));
  }
}

inline Tensor find_tensor(const NamedTensors& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return t;
  return Tensor();
}

// P ~ N(0, 0.5) clamped to +-11 (drawn, so its largest |value| is well above 1), SIG = 0.23.
inline void check_dcls_pair_init(const Tensor& P, const Tensor& SIG) {
  float max_abs_P = 0.f;
  for (float v : P.to_vector<float>()) max_abs_P = std::max(max_abs_P, std::abs(v));
  CHECK(max_abs_P <= 11.f);
  CHECK(max_abs_P > 1.f);
  CHECK(SIG.to_vector<float>() == std::vector<float>(size_t(SIG.numel()), 0.23f));
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

// `stage_blocks[s]` blocks in stage s; `dcls_prefix(s, b)` is the state-dict prefix of block b's DCLS conv
// in stage s, e.g. "stages.2.1.dwconv.".
inline void check_dcls_stage_sharing(const Module& model, const std::vector<int>& stage_blocks,
                                     const std::function<std::string(int, int)>& dcls_prefix) {
  const NamedTensors sd = model.state_dict();
  const NamedTensors params = model.named_parameters();
  Tensor previous_P;
  for (int s = 0; s < int(stage_blocks.size()); ++s) {
    INFO("stage " << s);
    const Tensor P = find_tensor(sd, dcls_prefix(s, 0) + "P"), SIG = find_tensor(sd, dcls_prefix(s, 0) + "SIG");
    REQUIRE(P.defined());
    CHECK(find_tensor(params, dcls_prefix(s, 0) + "P").is_same(P));  // named_parameters lists it under block 0
    for (int b = 1; b < stage_blocks[size_t(s)]; ++b) {
      CHECK(find_tensor(sd, dcls_prefix(s, b) + "P").is_same(P));
      CHECK(find_tensor(sd, dcls_prefix(s, b) + "SIG").is_same(SIG));
      CHECK_FALSE(find_tensor(params, dcls_prefix(s, b) + "P").defined());
    }
    if (previous_P.defined()) CHECK_FALSE(P.is_same(previous_P));
    previous_P = P;
    check_dcls_pair_init(P, SIG);
  }
}

inline models::ModelConfig small_config(const std::string& name, const std::vector<int>& dims, uint64_t seed) {
  models::ModelConfig c = models::default_config(name);
  c.dims = dims;
  c.depths = {1, 1, 2, 1};
  c.num_classes = 5;
  c.seed = seed;
  return c;
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

inline void check_full_model_listing(const std::string& name, size_t expected_keys, int64_t parameters) {
  INFO(name);
  auto model = full_model(name);
  CHECK(model->name() == name);
  check_state_dict_listing(*model, name, expected_keys);
  CHECK(model->num_parameters() == parameters);
}

// The model in eval mode on a (1, 128, 1001, 1) input: `want` lists every recorded (name, shape), from
// "stem" to "head"; the logits are finite.
inline void check_full_model_shapes(models::AudioTagger& model,
                                    const std::vector<std::pair<std::string, Shape>>& want) {
  const Tensor x = random_input({1, 128, 1001, 1}, 3);  // (N, H, W, 1)
  model.eval();
  autograd::NoGradGuard no_grad;
  Generator gen(0);
  std::vector<models::StageShape> shapes;
  const Tensor y = model.forward(x, gen, &shapes);  // (N, K)
  REQUIRE(shapes.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(shapes[i].name == want[i].first);
    CHECK(shapes[i].shape == want[i].second);
  }
  REQUIRE(y.shape() == Shape{1, 527});
  bool finite = true;
  for (float v : y.to_vector<float>()) finite = finite && std::isfinite(v);
  CHECK(finite);
}

// BCE of the logits against 0.5 on random_input(x_shape, 5), backward, then check_finite_gradients. The model
// should have no drop path: a dropped sample would leave its block without gradient. Returns the stage shapes.
inline std::vector<models::StageShape> check_backward(models::AudioTagger& model, const Shape& x_shape) {
  const Tensor x = random_input(x_shape, 5);  // (N, H, W, 1)
  Generator gen(7);
  std::vector<models::StageShape> shapes;
  const Tensor logits = model.forward(x, gen, &shapes);   // (N, K)
  const Tensor target = Tensor::full(logits.shape(), 0.5);  // (N, K)
  autograd::backward(ops::bce_with_logits(logits, target));
  check_finite_gradients(model);
  return shapes;
}

// The model has a non-zero drop path rate. Eval: no draw, the output does not depend on the Generator.
// Training: `draws` offsets per forward, the same seed gives the same output, another seed another one,
// and it differs from eval's.
inline void check_drop_path(models::AudioTagger& model, const Tensor& x, uint64_t draws) {
  autograd::NoGradGuard no_grad;
  model.eval();
  Generator g1(1), g2(2);
  const std::vector<float> e1 = model.forward(x, g1).to_vector<float>();  // (N, K)
  CHECK(model.forward(x, g2).to_vector<float>() == e1);
  CHECK(g1.offset == 0);

  model.train();
  Generator t1(1), t1_again(1), t2(2);
  const std::vector<float> a = model.forward(x, t1).to_vector<float>();  // (N, K)
  CHECK(t1.offset == draws);
  CHECK(model.forward(x, t1_again).to_vector<float>() == a);
  CHECK(model.forward(x, t2).to_vector<float>() != a);
  CHECK(a != e1);
}

}  // namespace engine::test
