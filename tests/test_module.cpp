// Module: PyTorch state-dict names, order and deduplication; load_state_dict rules (models.md §5.4).
// The toy tree mirrors a DCLS stage: two blocks whose dwconv share one position tensor P, and a
// BatchNorm-like buffer set. Expected key lists were produced by the same tree in PyTorch.
#include <catch2/catch.hpp>
#include <algorithm>

#include "engine/module.h"

using namespace engine;

namespace {

Tensor ramp(const Shape& shape, float start) {  // start, start + 0.5, ...
  std::vector<float> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.5f * float(i);
  return Tensor::from_vector(v, shape);
}

struct DConv : Module {
  Tensor weight, P, bias;
  DConv(Tensor shared_P, float s) {
    weight = register_parameter("weight", ramp({3, 1, 5}, s));  // (C, 1, K)
    P = register_parameter("P", shared_P);                      // (2, C, 1, K), shared by the stage
    bias = register_parameter("bias", ramp({3}, s + 1));
  }
};

struct BN : Module {
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  explicit BN(float s) {
    weight = register_parameter("weight", ramp({3}, s));
    bias = register_parameter("bias", ramp({3}, s + 1));
    running_mean = register_buffer("running_mean", ramp({3}, s + 2));
    running_var = register_buffer("running_var", ramp({3}, s + 3));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::from_vector<int64_t>({5}, {}));
  }
};

struct Block : Module {
  Tensor gamma;
  std::shared_ptr<DConv> dwconv;
  std::shared_ptr<BN> norm;
  Block(Tensor P, float s) {
    gamma = register_parameter("gamma", ramp({3}, s));
    dwconv = register_module("dwconv", std::make_shared<DConv>(P, s + 10));
    norm = register_module("norm", std::make_shared<BN>(s + 20));
  }
};

struct Seq : Module {
  std::vector<std::shared_ptr<Block>> blocks;
};

struct Net : Module {
  Tensor scale, late;
  std::shared_ptr<Seq> blocks;
  explicit Net(float s) {
    scale = register_parameter("scale", ramp({1}, s));
    Tensor P = ramp({2, 3, 1, 5}, s + 100);
    blocks = register_module("blocks", std::make_shared<Seq>());
    for (int b = 0; b < 2; ++b)
      blocks->blocks.push_back(blocks->register_module(std::to_string(b), std::make_shared<Block>(P, s + 30 * b)));
    // Registered after a child, still listed before the children (PyTorch: own parameters first).
    late = register_parameter("late", ramp({2}, s + 200));
  }
};

std::vector<std::string> keys(const NamedTensors& nt) {
  std::vector<std::string> k;
  for (const auto& kv : nt) k.push_back(kv.first);
  return k;
}

const Tensor& find(const NamedTensors& nt, const std::string& key) {
  for (const auto& kv : nt)
    if (kv.first == key) return kv.second;
  FAIL("no key " << key);
  throw;
}
// The result refers into nt: a temporary state dict would leave it dangling.
const Tensor& find(NamedTensors&& nt, const std::string& key) = delete;

NamedTensors without(NamedTensors sd, const std::string& key) {
  sd.erase(std::remove_if(sd.begin(), sd.end(), [&](const auto& kv) { return kv.first == key; }), sd.end());
  return sd;
}

// Deep copies (no aliasing with the source module).
NamedTensors cloned(const NamedTensors& sd) {
  NamedTensors out;
  for (const auto& [k, t] : sd) out.emplace_back(k, t.clone());
  return out;
}

}  // namespace

TEST_CASE("module: state_dict, named_parameters and named_buffers follow PyTorch", "[module]") {
  Net net(0);
  const std::vector<std::string> block_state = {
      "gamma", "dwconv.weight", "dwconv.P", "dwconv.bias", "norm.weight", "norm.bias",
      "norm.running_mean", "norm.running_var", "norm.num_batches_tracked"};
  std::vector<std::string> state = {"scale", "late"};
  for (int b = 0; b < 2; ++b)
    for (const auto& s : block_state) state.push_back("blocks." + std::to_string(b) + "." + s);
  REQUIRE(keys(net.state_dict()) == state);

  REQUIRE(keys(net.named_parameters()) ==
        std::vector<std::string>{"scale", "late", "blocks.0.gamma", "blocks.0.dwconv.weight", "blocks.0.dwconv.P",
                                 "blocks.0.dwconv.bias", "blocks.0.norm.weight", "blocks.0.norm.bias",
                                 "blocks.1.gamma", "blocks.1.dwconv.weight", "blocks.1.dwconv.bias",
                                 "blocks.1.norm.weight", "blocks.1.norm.bias"});
  REQUIRE(keys(net.named_buffers()) ==
        std::vector<std::string>{"blocks.0.norm.running_mean", "blocks.0.norm.running_var",
                                 "blocks.0.norm.num_batches_tracked", "blocks.1.norm.running_mean",
                                 "blocks.1.norm.running_var", "blocks.1.norm.num_batches_tracked"});

  // The alias appears under every name in state_dict(), as the same tensor.
  NamedTensors sd = net.state_dict();
  REQUIRE(find(sd, "blocks.0.dwconv.P").is_same(find(sd, "blocks.1.dwconv.P")));
  REQUIRE(find(sd, "blocks.0.dwconv.P").is_same(net.blocks->blocks[1]->dwconv->P));

  // 1 + 2 + 2 * (3 + 15 + 3 + 3 + 3) + 30 (P once) = 87
  REQUIRE(net.num_parameters() == 87);

  for (const auto& [k, t] : net.named_parameters()) REQUIRE(t.requires_grad());
  for (const auto& [k, t] : net.named_buffers()) REQUIRE_FALSE(t.requires_grad());
  REQUIRE(find(sd, "blocks.0.norm.num_batches_tracked").dtype() == DType::i64);
  REQUIRE(find(sd, "blocks.0.norm.num_batches_tracked").dim() == 0);
}

TEST_CASE("module: a shared child module is listed once by named_parameters, under every name by state_dict",
          "[module]") {
  struct Lin : Module {
    Lin() { register_parameter("weight", ramp({2}, 0)); }
  };
  struct Two : Module {
    Two() {
      auto shared = std::make_shared<Lin>();
      register_module("a", shared);
      register_module("b", shared);
    }
  } two;
  REQUIRE(keys(two.named_parameters()) == std::vector<std::string>{"a.weight"});
  REQUIRE(keys(two.state_dict()) == std::vector<std::string>{"a.weight", "b.weight"});
  REQUIRE(two.num_parameters() == 2);
}

TEST_CASE("module: train/eval recurse", "[module]") {
  Net net(0);
  REQUIRE(net.is_training());
  net.eval();
  REQUIRE_FALSE(net.is_training());
  REQUIRE_FALSE(net.blocks->blocks[1]->norm->is_training());
  net.train();
  REQUIRE(net.blocks->blocks[1]->norm->is_training());
}

TEST_CASE("module: to(CPU) on a CPU module changes nothing", "[module]") {
  Net net(0);
  Tensor P = net.blocks->blocks[0]->dwconv->P;
  const void* data = P.raw_data();
  net.to(Device::CPU);
  REQUIRE(P.raw_data() == data);
  REQUIRE(net.blocks->blocks[1]->dwconv->P.is_same(P));
  REQUIRE(P.to_vector<float>() == ramp({2, 3, 1, 5}, 100).to_vector<float>());
}

TEST_CASE("module: load_state_dict copies values and keeps aliases", "[module]") {
  Net src(1000), dst(0);
  Tensor dst_P = dst.blocks->blocks[0]->dwconv->P;
  const void* dst_data = dst_P.raw_data();

  SECTION("full state dict (aliases under every name, equal)") { dst.load_state_dict(cloned(src.state_dict())); }
  SECTION("save_model form: alias group under its first name only") {
    dst.load_state_dict(without(cloned(src.state_dict()), "blocks.1.dwconv.P"));
  }
  SECTION("alias group under a later name only") {
    dst.load_state_dict(without(cloned(src.state_dict()), "blocks.0.dwconv.P"));
  }
  const NamedTensors loaded = dst.state_dict();
  for (const auto& [k, t] : src.state_dict()) {
    INFO(k);
    const Tensor& d = find(loaded, k);
    if (t.dtype() == DType::f32) REQUIRE(d.to_vector<float>() == t.to_vector<float>());
    else REQUIRE(d.to_vector<int64_t>() == t.to_vector<int64_t>());
  }
  REQUIRE(dst.blocks->blocks[1]->dwconv->P.is_same(dst_P));
  REQUIRE(dst_P.raw_data() == dst_data);  // copied into the existing tensor
}

TEST_CASE("module: load_state_dict converts floating types, num_batches_tracked is optional", "[module]") {
  Net src(1000), dst(0);
  NamedTensors sd;
  for (const auto& [k, t] : src.state_dict()) {
    if (k.find("num_batches_tracked") != std::string::npos) continue;  // absent: left unchanged
    sd.emplace_back(k, t.dtype() == DType::f32 ? t.to(DType::f64) : t);
  }
  dst.load_state_dict(sd);
  REQUIRE(dst.late.to_vector<float>() == src.late.to_vector<float>());
  REQUIRE(dst.blocks->blocks[0]->norm->num_batches_tracked.item<int64_t>() == 5);

  sd.emplace_back("blocks.0.norm.num_batches_tracked", Tensor::from_vector<int64_t>({42}, {}));
  dst.load_state_dict(sd);
  REQUIRE(dst.blocks->blocks[0]->norm->num_batches_tracked.item<int64_t>() == 42);
  REQUIRE(dst.blocks->blocks[1]->norm->num_batches_tracked.item<int64_t>() == 5);
}

TEST_CASE("module: load_state_dict rejects bad state dicts and leaves the module unchanged", "[module]") {
  Net src(1000), dst(0);
  NamedTensors good = cloned(src.state_dict());
  const std::vector<float> scale_before = dst.scale.to_vector<float>();

  SECTION("unequal duplicates of an alias group") {
    NamedTensors sd = good;
    for (auto& [k, t] : sd)
      if (k == "blocks.1.dwconv.P") t = ramp(t.shape(), -7);
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(sd), UserError,
                           Catch::Matchers::Message("load_state_dict: keys blocks.0.dwconv.P and blocks.1.dwconv.P "
                                                    "name the same shared tensor but hold different values"));
  }
  SECTION("missing key") {
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(without(good, "blocks.1.norm.running_var")), UserError,
                           Catch::Matchers::Message("load_state_dict: missing key blocks.1.norm.running_var"));
  }
  SECTION("missing alias group") {
    NamedTensors sd = without(without(good, "blocks.0.dwconv.P"), "blocks.1.dwconv.P");
    sd = without(sd, "late");
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(sd), UserError,
                           Catch::Matchers::Message("load_state_dict: missing key late (and 1 more missing keys)"));
    REQUIRE_THROWS_WITH(dst.load_state_dict(without(without(good, "blocks.0.dwconv.P"), "blocks.1.dwconv.P")),
                        "load_state_dict: missing key blocks.0.dwconv.P");
  }
  SECTION("unknown key") {
    NamedTensors sd = good;
    sd.emplace_back("blocks.0.dwconv.Q", ramp({1}, 0));
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(sd), UserError,
                           Catch::Matchers::Message("load_state_dict: unexpected key blocks.0.dwconv.Q"));
  }
  SECTION("shape mismatch") {
    NamedTensors sd = good;
    for (auto& [k, t] : sd)
      if (k == "blocks.1.dwconv.weight") t = ramp({3, 5}, 0);
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(sd), UserError,
                           Catch::Matchers::Message("key blocks.1.dwconv.weight: expected shape [3,1,5], found [3,5]"));
  }
  SECTION("integer dtype mismatch") {
    NamedTensors sd = good;
    for (auto& [k, t] : sd)
      if (k == "blocks.0.norm.num_batches_tracked") t = Tensor::from_vector<int32_t>({3}, {});
    REQUIRE_THROWS_MATCHES(dst.load_state_dict(sd), UserError,
                           Catch::Matchers::Message("key blocks.0.norm.num_batches_tracked: expected dtype i64, found i32"));
  }
  SECTION("float given for an integer buffer") {
    NamedTensors sd = good;
    for (auto& [k, t] : sd)
      if (k == "blocks.0.norm.num_batches_tracked") t = Tensor::full({}, 3.0);
    REQUIRE_THROWS_WITH(dst.load_state_dict(sd), Catch::Contains("expected dtype i64, found f32"));
  }
  SECTION("key given twice") {
    NamedTensors sd = good;
    sd.push_back(sd.front());
    REQUIRE_THROWS_WITH(dst.load_state_dict(sd), "load_state_dict: key scale given twice");
  }
  REQUIRE(dst.scale.to_vector<float>() == scale_before);
}
