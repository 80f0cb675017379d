// Checkpoints of the six audio taggers (shared/spec/models.md §5.4), at the small sizes of the goldens:
//   - engine save_module -> load_module into a fresh model with another seed: identical state (aliases
//     kept) and bit-identical logits;
//   - the per-layer duplicate form (every shared P/SIG under every layer's name) loads; unequal duplicates
//     are rejected, naming both keys; num_batches_tracked may be absent;
//   - user errors name the key: wrong shape (expected and found shape), unexpected and missing keys,
//     including PyTorch-written checkpoints (tests/data/models) loaded into the other variant;
//   - a failed load leaves the model unchanged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/check.h"
#include "engine/safetensors.h"
#include "models/audio_model.h"
#include "tests/harness/temp_dir.h"

using namespace engine;

namespace {

const std::string kData = std::string(ENGINE_TEST_DATA_DIR) + "/models";

// The sizes of the committed goldens (tools/gen_model_golden.py SMALL_SIZE, SMALL_CLASSES).
std::shared_ptr<models::AudioTagger> small_model(const std::string& name, uint64_t seed) {
  models::ModelConfig c = models::default_config(name);
  c.depths = {1, 1, 2, 1};
  c.dims = c.arch == "fastvit" ? std::vector<int>{8, 16, 32, 64} : std::vector<int>{4, 8, 12, 16};
  c.num_classes = 32;
  c.seed = seed;
  return models::create_model(c);
}

// (1, 128, 257, 1): the first 257 frames of the golden input's first spectrogram (short, to keep the
// test fast; every stage still has a map of at least 8 x 2).
Tensor sample_input() {
  for (const auto& [name, t] : load_safetensors(kData + "/input.safetensors").tensors) {
    if (name != "x") continue;
    const std::vector<float> v = t.to(DType::f32).to_vector<float>();  // (2, 128, 1001, 1)
    std::vector<float> crop;
    for (int h = 0; h < 128; ++h) crop.insert(crop.end(), v.begin() + h * 1001, v.begin() + h * 1001 + 257);
    return Tensor::from_vector(crop, {1, 128, 257, 1});
  }
  FAIL("input.safetensors has no x");
  return {};
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ha = a.to(Device::CPU), hb = b.to(Device::CPU);
  return std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

// Names of state_dict() entries whose values differ ("" when identical, key lists equal).
std::string first_difference(const Module& a, const Module& b) {
  const NamedTensors sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    REQUIRE(sa[i].first == sb[i].first);
    if (!same_bytes(sa[i].second, sb[i].second)) return sa[i].first;
  }
  return "";
}

// Alias structure: for every state-dict key, the index of the first key naming the same tensor.
std::vector<size_t> alias_pattern(const Module& m) {
  const NamedTensors sd = m.state_dict();
  std::vector<size_t> out;
  for (size_t i = 0; i < sd.size(); ++i) {
    size_t j = 0;
    while (!sd[j].second.is_same(sd[i].second)) ++j;
    out.push_back(j);
  }
  return out;
}

// Deep copies of every state-dict entry: no aliases, each shared P/SIG under every layer's name.
NamedTensors flattened_state(const Module& m) {
  NamedTensors out;
  for (const auto& [name, t] : m.state_dict()) out.emplace_back(name, t.clone());
  return out;
}

NamedTensors snapshot(const Module& m) { return flattened_state(m); }

bool unchanged(const Module& m, const NamedTensors& before) {
  const NamedTensors now = m.state_dict();
  if (now.size() != before.size()) return false;
  for (size_t i = 0; i < now.size(); ++i)
    if (!same_bytes(now[i].second, before[i].second)) return false;
  return true;
}

Tensor eval_logits(models::AudioTagger& m, const Tensor& x) {
  autograd::NoGradGuard no_grad;
  m.eval();
  Generator gen(0);
  return m.forward(x, gen);
}

// One train-mode forward, so that BatchNorm running stats and num_batches_tracked move off their init.
void train_step_stats(models::AudioTagger& m, const Tensor& x) {
  autograd::NoGradGuard no_grad;
  m.train();
  Generator gen(0);
  m.forward(x, gen);
}

bool is_dcls(const std::string& name) { return name.find("_dcls_") != std::string::npos; }

}  // namespace

TEST_CASE("checkpoint: save_module then load_module into a fresh model restores state and logits", "[checkpoint]") {
  const Tensor x = sample_input();
  test::TempDir dir("ckpt");
  for (const std::string& name : models::model_names()) {
    INFO("model " << name);
    auto a = small_model(name, 1), b = small_model(name, 2);
    train_step_stats(*a, x);
    REQUIRE(first_difference(*a, *b) != "");
    const std::string path = dir.file(name + ".safetensors");
    save_module(*a, path);

    // On disk: each alias group once, under its lexicographically first name; the rest in the metadata.
    const SafetensorsFile f = load_safetensors(path);
    std::map<const TensorImpl*, std::string> first;
    for (const auto& [key, t] : a->state_dict()) {
      auto [it, fresh] = first.emplace(t.impl_ptr().get(), key);
      if (!fresh && key < it->second) it->second = key;
    }
    std::set<std::string> stored, expected;
    for (const auto& kv : f.tensors) stored.insert(kv.first);
    for (const auto& kv : first) expected.insert(kv.second);
    CHECK(stored == expected);
    CHECK((stored.size() < a->state_dict().size()) == is_dcls(name));
    for (const auto& [key, t] : a->state_dict())
      if (!stored.count(key)) CHECK(f.metadata.at(key) == first.at(t.impl_ptr().get()));

    const std::vector<size_t> aliases = alias_pattern(*b);
    load_module(*b, path);
    CHECK(first_difference(*a, *b) == "");
    CHECK(alias_pattern(*b) == aliases);
    CHECK(b->num_parameters() == a->num_parameters());
    CHECK(same_bytes(eval_logits(*a, x), eval_logits(*b, x)));
  }
}

TEST_CASE("checkpoint: the per-layer duplicate form of shared P/SIG loads, unequal duplicates are rejected",
          "[checkpoint]") {
  test::TempDir dir("ckpt");
  for (const std::string& name : models::model_names()) {
    if (!is_dcls(name)) continue;
    INFO("model " << name);
    auto a = small_model(name, 1);
    const NamedTensors flat = flattened_state(*a);
    REQUIRE(flat.size() == a->state_dict().size());
    const std::string path = dir.file(name + ".flat.safetensors");
    save_safetensors(path, flat);

    auto b = small_model(name, 2);
    const std::vector<size_t> aliases = alias_pattern(*b);
    load_module(*b, path);
    CHECK(first_difference(*a, *b) == "");
    CHECK(alias_pattern(*b) == aliases);  // still one P/SIG per stage

    // A duplicate that differs from its group's first name: rejected, both keys named, nothing changed.
    const std::vector<size_t> pattern = alias_pattern(*a);
    size_t dup = 0;
    while (pattern[dup] == dup || flat[dup].first.find(".P") == std::string::npos) ++dup;
    NamedTensors bad = flattened_state(*a);
    Tensor& t = bad[dup].second;
    t.data<float>()[3] += 1e-3f;
    const std::string bad_path = dir.file(name + ".unequal.safetensors");
    save_safetensors(bad_path, bad);
    auto c = small_model(name, 3);
    const NamedTensors before = snapshot(*c);
    const std::string kept = flat[pattern[dup]].first, other = flat[dup].first;
    INFO("keys " << kept << " and " << other);
    REQUIRE_THROWS_AS(load_module(*c, bad_path), UserError);
    REQUIRE_THROWS_WITH(load_module(*c, bad_path),
                        bad_path + ": load_state_dict: keys " + kept + " and " + other +
                            " name the same shared tensor but hold different values");
    CHECK(unchanged(*c, before));
  }
}

TEST_CASE("checkpoint: num_batches_tracked may be absent from a checkpoint", "[checkpoint]") {
  const Tensor x = sample_input();
  test::TempDir dir("ckpt");
  for (const std::string name : {"fastvit_audio_sa24", "fastvit_dcls_audio_sa24"}) {
    INFO("model " << name);
    auto a = small_model(name, 1), b = small_model(name, 2);
    train_step_stats(*a, x);
    NamedTensors sd;
    size_t dropped = 0;
    for (const auto& [key, t] : flattened_state(*a)) {
      if (key.size() > 20 && key.compare(key.size() - 20, 20, ".num_batches_tracked") == 0) {
        ++dropped;
        continue;
      }
      sd.emplace_back(key, t);
    }
    REQUIRE(dropped > 0);
    const std::string path = dir.file(name + ".safetensors");
    save_safetensors(path, sd);
    REQUIRE_NOTHROW(load_module(*b, path));
    for (const auto& [key, t] : b->state_dict()) {
      INFO("key " << key);
      const bool counter = t.dtype() == DType::i64;
      if (counter) CHECK(t.item<int64_t>() == 0);  // kept its own value
      auto it = std::find_if(sd.begin(), sd.end(), [&wanted = key](const auto& kv) { return kv.first == wanted; });
      CHECK((it != sd.end()) != counter);
      if (it != sd.end()) CHECK(same_bytes(t, it->second));
    }
    CHECK(same_bytes(eval_logits(*a, x), eval_logits(*b, x)));
  }
}

TEST_CASE("checkpoint: user errors name the key; a failed load changes nothing", "[checkpoint]") {
  test::TempDir dir("ckpt");
  auto m = small_model("convnext_dcls_audio_tiny", 1);
  const NamedTensors before = snapshot(*m);
  auto edited = [&](const std::string& file, auto&& edit) {
    NamedTensors sd = flattened_state(*small_model("convnext_dcls_audio_tiny", 2));
    edit(sd);
    const std::string path = dir.file(file);
    save_safetensors(path, sd);
    return path;
  };
  auto find = [](NamedTensors& sd, const std::string& key) -> Tensor& {
    for (auto& kv : sd)
      if (kv.first == key) return kv.second;
    FAIL("no key " << key);
    return sd[0].second;
  };

  SECTION("wrong shape: the key, the expected shape and the found shape") {
    const std::string path = edited("shape.safetensors", [&](NamedTensors& sd) {
      find(sd, "head.weight") = Tensor::zeros({33, 16});
    });
    REQUIRE_THROWS_WITH(load_module(*m, path),
                        path + ": key head.weight: expected shape [32,16], found [33,16]");
  }
  SECTION("unexpected key") {
    const std::string path = edited("unknown.safetensors", [&](NamedTensors& sd) {
      sd.emplace_back("head.extra", Tensor::zeros({2}));
    });
    REQUIRE_THROWS_WITH(load_module(*m, path), path + ": load_state_dict: unexpected key head.extra");
  }
  SECTION("missing key") {
    const std::string path = edited("missing.safetensors", [&](NamedTensors& sd) {
      sd.erase(std::find_if(sd.begin(), sd.end(), [](const auto& kv) { return kv.first == "head.bias"; }));
    });
    REQUIRE_THROWS_WITH(load_module(*m, path), path + ": load_state_dict: missing key head.bias");
  }
  SECTION("every name of a shared P missing") {
    const std::string path = edited("no_p.safetensors", [&](NamedTensors& sd) {
      sd.erase(std::remove_if(sd.begin(), sd.end(),
                              [](const auto& kv) { return kv.first.rfind("stages.2.", 0) == 0 &&
                                                          kv.first.size() > 2 &&
                                                          kv.first.compare(kv.first.size() - 2, 2, ".P") == 0; }),
               sd.end());
    });
    REQUIRE_THROWS_WITH(load_module(*m, path), path + ": load_state_dict: missing key stages.2.0.dwconv.P");
  }
  SECTION("integer buffer with another dtype") {
    auto f = small_model("fastvit_audio_sa24", 1);
    NamedTensors sd = flattened_state(*f);
    find(sd, "network.0.0.convffn.conv.bn.num_batches_tracked") = Tensor::zeros({}, DType::i32);
    const std::string path = dir.file("dtype.safetensors");
    save_safetensors(path, sd);
    const NamedTensors f_before = snapshot(*f);
    REQUIRE_THROWS_WITH(load_module(*f, path),
                        path + ": key network.0.0.convffn.conv.bn.num_batches_tracked: expected dtype i64, found i32");
    CHECK(unchanged(*f, f_before));
  }
  CHECK(unchanged(*m, before));
}

TEST_CASE("checkpoint: a PyTorch checkpoint of one variant loaded into the other names the mismatch",
          "[checkpoint]") {
  // PyTorch-written (safetensors.torch.save_model) weights of the goldens.
  auto dsc = small_model("convnext_audio_tiny", 1), dcls = small_model("convnext_dcls_audio_tiny", 1);
  const std::string dsc_file = kData + "/convnext_audio_tiny.weights.safetensors";
  const std::string dcls_file = kData + "/convnext_dcls_audio_tiny.weights.safetensors";
  REQUIRE_NOTHROW(load_module(*dsc, dsc_file));
  REQUIRE_NOTHROW(load_module(*dcls, dcls_file));
  // DCLS file into the baseline: P/SIG are unknown there (4 stages x P, SIG stored once each).
  REQUIRE_THROWS_WITH(load_module(*dsc, dcls_file),
                      dcls_file + ": load_state_dict: unexpected key stages.0.0.dwconv.P (and 7 more unexpected keys)");
  // Baseline file into the DCLS model: the first depthwise weight has the 7x7 layout, not (C, 1, 26).
  REQUIRE_THROWS_WITH(load_module(*dcls, dsc_file),
                      dsc_file + ": key stages.0.0.dwconv.weight: expected shape [4,1,26], found [4,1,7,7]");
}
