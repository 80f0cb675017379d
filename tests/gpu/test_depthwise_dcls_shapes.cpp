// CUDA-vs-CPU parity of the depthwise convolution and the DCLS layer on every depthwise shape of
// shared/spec/models.md §0.2, batch 2, forward and all gradients (f32 on both sides).
//   DCLS layer : K = dcls_construct(weight (C,1,26), P, SIG (2,C,1,26), 23, 23); y = depthwise(x, K, b, pad 11)
//   baseline   : depthwise 7x7 pad 3 (the layers DCLS replaces), FastViT RepMixer 3x3 pad 1 and 1x1
// Error measure: testing::max_rel_error (inf-norm relative error) per tensor.
#include <catch2/catch.hpp>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"
#include "tests/harness/op_cases.h"

using namespace engine;

namespace {

struct DwShape {
  int64_t C, H, W;
  bool bias;
};

// dW sums N*Ho*Wo = up to 7936 products, dP/dSIG sum 529 nearly cancelling terms of a conv gradient: the
// CPU f32 reference itself is ~1e-5 (normwise) away from f64 on these shapes.
constexpr double kParityRtol = 1e-4;

Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u{float(lo), float(hi)};
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& e : v) e = u(rng);
  return Tensor::from_vector(v, shape);
}

// Copies of the CPU f32 inputs on `device`, each a fresh leaf that requires grad.
std::vector<Tensor> leaves_on(const std::vector<Tensor>& host, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : host) {
    if (!t.defined()) {
      out.emplace_back();
      continue;
    }
    Tensor c = device == Device::CPU ? t.clone() : t.to(device);
    c.set_requires_grad(true);
    out.push_back(c);
  }
  return out;
}

// Runs `forward` on CPU and CUDA copies of the inputs, back-propagates the same projection and compares
// the outputs and the gradients of every defined input.
void check_parity(const std::string& what, const std::vector<Tensor>& host_in,
                  const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& forward, uint64_t seed) {
  INFO(what);
  cuda_set_guard_mode(true);
  std::mt19937_64 rng(seed);
  std::vector<Tensor> results[2];
  const Device devices[2] = {Device::CPU, Device::CUDA};
  std::vector<Tensor> proj;
  for (int k = 0; k < 2; ++k) {
    autograd::clear_tape();
    std::vector<Tensor> in = leaves_on(host_in, devices[k]);
    std::vector<Tensor> out = forward(in);
    if (proj.empty())
      for (const Tensor& o : out) proj.push_back(uniform(o.shape(), -1, 1, rng));
    std::vector<Tensor> proj_dev;
    for (const Tensor& p : proj) proj_dev.push_back(p.to(devices[k]));
    autograd::backward(out, proj_dev);
    results[k] = out;
    for (const Tensor& t : in)
      if (t.defined()) results[k].push_back(t.grad());
  }
  cuda_synchronize();
  cuda_check_guards();
  REQUIRE(results[0].size() == results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i) {
    INFO("tensor " << i << " (outputs first, then input gradients) shape " << shape_str(results[0][i].shape()));
    REQUIRE(results[1][i].defined());
    REQUIRE(results[1][i].is_cuda());
    REQUIRE(results[1][i].shape() == results[0][i].shape());
    const double err = testing::max_rel_error(testing::as_doubles(results[1][i]), testing::as_doubles(results[0][i]));
    INFO("max_rel_error " << err);
    REQUIRE(err <= kParityRtol);
  }
  cuda_set_guard_mode(false);
}

void check_dcls_layer(const DwShape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t Kc = 26;
  std::vector<Tensor> in = {
      uniform({2, s.H, s.W, s.C}, -1, 1, rng),         // x (N, H, W, C)
      uniform({s.C, 1, Kc}, -0.05, 0.05, rng),         // weight (C, 1, Kc), paper init scale
      uniform({2, s.C, 1, Kc}, -8, 8, rng),            // P, spread over the 23x23 grid and a little past it
      uniform({2, s.C, 1, Kc}, -0.6, 1.2, rng),        // SIG, both signs
      s.bias ? uniform({s.C}, -0.5, 0.5, rng) : Tensor(),  // bias (C)
  };
  check_parity("DCLS 23x23 Kc 26, x " + shape_str(in[0].shape()) + (s.bias ? " bias" : ""), in,
               [](const std::vector<Tensor>& t) {
                 Tensor K = ops::dcls_construct(t[1], t[2], t[3], 23, 23);  // (C, 1, 23, 23)
                 Tensor y = ops::depthwise_conv2d(t[0], K, t[4], ops::DepthwiseParams{1, 1, 11, 11});
                 return std::vector<Tensor>{y, K};
               },
               seed + 1);
}

void check_dense_kernel(const DwShape& s, int k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> in = {
      uniform({2, s.H, s.W, s.C}, -1, 1, rng),        // x (N, H, W, C)
      uniform({s.C, 1, k, k}, -0.3, 0.3, rng),        // w (C, 1, k, k)
      s.bias ? uniform({s.C}, -0.5, 0.5, rng) : Tensor(),
  };
  const ops::DepthwiseParams p{1, 1, k / 2, k / 2};
  check_parity("depthwise " + std::to_string(k) + "x" + std::to_string(k) + ", x " + shape_str(in[0].shape()) +
                   (s.bias ? " bias" : ""),
               in, [p](const std::vector<Tensor>& t) {
                 return std::vector<Tensor>{ops::depthwise_conv2d(t[0], t[1], t[2], p)};
               },
               seed + 1);
}

// Every model shape: the DCLS layer and the 7x7 baseline it replaces.
void check_model(const std::vector<DwShape>& shapes, uint64_t seed) {
  for (const DwShape& s : shapes) {
    check_dcls_layer(s, seed++);
    check_dense_kernel(s, 7, seed++);
  }
}

}  // namespace

TEST_CASE("depthwise and DCLS parity: ConvNeXt-T shapes", "[gpu][dcls]") {
  check_model({{96, 64, 62, true}, {192, 32, 31, true}, {384, 16, 15, true}, {768, 8, 7, true}}, 100);
}

TEST_CASE("depthwise and DCLS parity: ConvFormer-S18 shapes", "[gpu][dcls]") {
  check_model({{128, 64, 62, false}, {256, 32, 31, false}, {640, 16, 16, false}, {1024, 8, 8, false}}, 200);
}

TEST_CASE("depthwise and DCLS parity: FastViT-SA24 shapes", "[gpu][dcls]") {
  // ConvFFN (no bias) and the stage-4 RepCPE (bias).
  check_model({{64, 64, 62, false}, {128, 32, 31, false}, {256, 16, 16, false}, {512, 8, 8, false},
               {512, 8, 8, true}},
              300);
  // RepMixer depthwise 3x3 and 1x1 (never replaced by DCLS), stages 0-2.
  uint64_t seed = 400;
  for (const DwShape& s : std::vector<DwShape>{{64, 64, 62, true}, {128, 32, 31, true}, {256, 16, 16, true}})
    for (int k : {3, 1}) check_dense_kernel(s, k, seed++);
}
