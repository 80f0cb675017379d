// ParameterArena: values preserved by packing, aliases packed once, 64-byte alignment, autograd
// accumulating straight into the grads region, zero_grad, optimizer state regions.
#include <catch2/catch.hpp>
#include <cstdint>

#include "engine/autograd.h"
#include "engine/param_arena.h"
#include "ops/activation.h"

using namespace engine;

namespace {

Tensor ramp(const Shape& shape, float start) {
  std::vector<float> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.25f * float(i);
  return Tensor::from_vector(v, shape);
}

struct Conv : Module {
  Tensor weight, P;
  Conv(Tensor shared_P, float s) {
    weight = register_parameter("weight", ramp({5, 1, 7}, s));  // (C, 1, K): 35 elements, not a multiple of 16
    P = register_parameter("P", shared_P);                      // (2, C, 1, K)
  }
};
struct Net : Module {
  Tensor gamma, running_mean;
  std::shared_ptr<Conv> c0, c1;
  Net() {
    gamma = register_parameter("gamma", ramp({3}, -1));
    running_mean = register_buffer("running_mean", ramp({3}, 7));
    Tensor P = ramp({2, 5, 1, 7}, 100);
    c0 = register_module("c0", std::make_shared<Conv>(P, 10));
    c1 = register_module("c1", std::make_shared<Conv>(P, 20));
  }
};

bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST_CASE("param arena: packing preserves values, aliases once, 64-byte alignment", "[arena]") {
  Net net;
  NamedTensors before;
  for (const auto& [k, t] : net.named_parameters()) before.emplace_back(k, t.clone());
  const void* buffer_data = net.running_mean.raw_data();

  ParameterArena arena(net, Device::CPU, 2);

  // Segments: one per unique parameter (P once), named as named_parameters().
  const auto& segs = arena.segments();
  REQUIRE(segs.size() == 4);
  REQUIRE(segs[0].name == "gamma");
  REQUIRE(segs[1].name == "c0.weight");
  REQUIRE(segs[2].name == "c0.P");
  REQUIRE(segs[3].name == "c1.weight");
  // 3 -> 16, 35 -> 48, 70 -> 80, 35 -> 48
  REQUIRE(segs[0].offset == 0);
  REQUIRE(segs[1].offset == 16);
  REQUIRE(segs[2].offset == 64);
  REQUIRE(segs[3].offset == 144);
  REQUIRE(arena.region_numel() == 192);
  REQUIRE(segs[2].numel == 70);
  REQUIRE(segs[2].shape == Shape{2, 5, 1, 7});

  // Values unchanged, now inside the arena; layer handles and aliases still valid.
  NamedTensors after = net.named_parameters();
  REQUIRE(after.size() == before.size());
  const char* base = static_cast<const char*>(arena.storage()->data);
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].first);
    REQUIRE(after[i].second.to_vector<float>() == before[i].second.to_vector<float>());
    REQUIRE(after[i].second.raw_data() == base + segs[i].offset * 4);
    REQUIRE(aligned64(after[i].second.raw_data()));
    REQUIRE(after[i].second.requires_grad());
  }
  REQUIRE(net.c0->P.is_same(net.c1->P));
  REQUIRE(net.c1->P.raw_data() == base + 64 * 4);
  REQUIRE(net.running_mean.raw_data() == buffer_data);  // buffers are not packed

  // Flat views: values, grads, state slots; padding and state start at zero.
  Tensor values = arena.values(), grads = arena.grads();  // (R,)
  REQUIRE(values.shape() == Shape{192});
  REQUIRE(values.raw_data() == base);
  REQUIRE(grads.raw_data() == base + 192 * 4);
  REQUIRE(arena.state(0).raw_data() == base + 2 * 192 * 4);
  REQUIRE(arena.state(1).raw_data() == base + 3 * 192 * 4);
  REQUIRE(aligned64(grads.raw_data()));
  REQUIRE(aligned64(arena.state(1).raw_data()));
  std::vector<float> flat = values.to_vector<float>();
  for (size_t i = 0; i < segs.size(); ++i) {
    const int64_t end = segs[i].offset + segs[i].numel;
    const int64_t next = i + 1 < segs.size() ? segs[i + 1].offset : arena.region_numel();
    for (int64_t j = end; j < next; ++j) REQUIRE(flat[size_t(j)] == 0.f);
    REQUIRE(flat[size_t(segs[i].offset)] == before[i].second.to_vector<float>()[0]);
  }
  for (int k = 0; k < 2; ++k)
    for (float x : arena.state(k).to_vector<float>()) REQUIRE(x == 0.f);

  // Writes through a layer's handle show up in the flat view, and the reverse.
  net.gamma.copy_(Tensor::full({3}, 9.0));
  REQUIRE(arena.values().to_vector<float>()[2] == 9.f);
  float* v = values.data<float>();
  v[64] = -5.f;  // first element of P
  REQUIRE(net.c1->P.to_vector<float>()[0] == -5.f);
}

TEST_CASE("param arena: gradients accumulate into the arena, zero_grad clears them", "[arena]") {
  Net net;
  ParameterArena arena(net, Device::CPU, 1);
  const auto& segs = arena.segments();
  const char* grads_base = static_cast<const char*>(arena.grads().raw_data());

  for (const auto& [k, p] : net.named_parameters()) {
    INFO(k);
    REQUIRE(p.grad().defined());
    REQUIRE(p.grad().shape() == p.shape());
  }
  REQUIRE(net.c0->P.grad().raw_data() == grads_base + segs[2].offset * 4);

  // P is used by both convs: its gradient is the sum of both uses. relu'(P) = 1 (P > 0).
  auto step = [&] {
    Tensor y0 = ops::relu(net.c0->P);  // (2, C, 1, K)
    Tensor y1 = ops::relu(net.c1->P);
    Tensor yg = ops::relu(net.gamma);  // (3): -1, -0.75, -0.5 -> zero gradient
    autograd::backward({y0, y1, yg}, {Tensor::full(y0.shape(), 1.5), Tensor::full(y1.shape(), 0.5),
                                      Tensor::full(yg.shape(), 1.0)});
  };
  step();
  std::vector<float> g = arena.grads().to_vector<float>();
  for (int64_t j = 0; j < arena.region_numel(); ++j) {
    const bool in_P = j >= segs[2].offset && j < segs[2].offset + segs[2].numel;
    REQUIRE(g[size_t(j)] == (in_P ? 2.f : 0.f));
  }
  step();  // accumulates
  REQUIRE(arena.grads().to_vector<float>()[size_t(segs[2].offset)] == 4.f);
  REQUIRE(net.c1->P.grad().to_vector<float>()[69] == 4.f);

  const void* grad_data = net.c0->P.grad().raw_data();
  arena.zero_grad();
  for (float x : arena.grads().to_vector<float>()) REQUIRE(x == 0.f);
  REQUIRE(net.c0->P.grad().raw_data() == grad_data);  // still the arena view
  step();
  REQUIRE(net.c0->P.grad().to_vector<float>()[0] == 2.f);
}

TEST_CASE("param arena: existing gradients are carried over; non-f32 parameters are rejected", "[arena]") {
  Net net;
  net.gamma.grad_or_zeros().copy_(Tensor::full({3}, 0.5));
  ParameterArena arena(net, Device::CPU, 0);
  REQUIRE(net.gamma.grad().to_vector<float>() == std::vector<float>{0.5f, 0.5f, 0.5f});
  REQUIRE(arena.grads().to_vector<float>()[0] == 0.5f);
  REQUIRE(arena.state_slots() == 0);

  struct F64 : Module {
    F64() { register_parameter("w", Tensor::full({2}, 1.0, DType::f64)); }
  } f64;
  REQUIRE_THROWS_WITH(ParameterArena(f64, Device::CPU, 2),
                      "ParameterArena: parameter w is f64; the arena holds f32 parameters");
}
