// Golden checks against the real `dcls` 0.1.1 package and torch F.conv2d (tools/gen_dcls_golden.py writes
// tests/data/dcls/*.safetensors; the format is described there).
// Each DCLS config rebuilds the layer chain from dcls_construct + a convolution and compares the dense
// kernels, the output and the gradients of L = sum(proj * y) w.r.t. x, P, SIG and every weight and bias.
// Depthwise configs run both through depthwise_conv2d and through the dense conv2d with groups = C.
// Error measure: testing::max_rel_error = max|got - ref| / max|ref| over the tensor (inf-norm relative
// error); bounds 1e-10 for the f64 files and 1e-5 for the f32 files (computed by torch in f32).
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "engine/autograd.h"
#include "engine/safetensors.h"
#include "ops/conv2d.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"
#include "tests/harness/op_cases.h"

using namespace engine;

namespace {

struct Golden {
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> meta;

  const Tensor& at(const std::string& name) const {
    INFO("golden tensor " << name);
    auto it = t.find(name);
    REQUIRE(it != t.end());
    return it->second;
  }
  bool has(const std::string& name) const { return t.count(name) > 0; }
  int meta_int(const std::string& key) const {
    INFO("golden metadata " << key);
    REQUIRE(meta.count(key) == 1);
    return std::stoi(meta.at(key));
  }
  double tol() const { return meta.at("dtype") == "f64" ? 1e-10 : 1e-5; }
};

Golden load_golden(const std::string& file) {
  SafetensorsFile f = load_safetensors(std::string(ENGINE_TEST_DATA_DIR) + "/dcls/" + file + ".safetensors");
  Golden g;
  for (auto& kv : f.tensors) g.t[kv.first] = kv.second;
  g.meta = f.metadata;
  return g;
}

void expect_close(const Tensor& got, const Tensor& ref, double tol, const std::string& what) {
  INFO(what << ": shape " << shape_str(got.shape()) << " vs golden " << shape_str(ref.shape()));
  REQUIRE(got.defined());
  REQUIRE(got.shape() == ref.shape());
  const double err = testing::max_rel_error(testing::as_doubles(got), testing::as_doubles(ref));
  INFO("max_rel_error " << err << " > " << tol);
  REQUIRE(err <= tol);
}

// A fresh leaf with the golden values (its own storage, requires_grad, no gradient yet).
Tensor leaf(const Tensor& t) {
  Tensor c = t.clone();
  c.set_requires_grad(true);
  return c;
}

enum class ConvPath { depthwise, dense };

void check_dcls_file(const std::string& file, ConvPath path) {
  INFO("golden file " << file << (path == ConvPath::depthwise ? ", depthwise_conv2d" : ", conv2d"));
  const Golden g = load_golden(file);
  const double tol = g.tol();
  const int layers = g.meta_int("layers"), groups = g.meta_int("groups");
  const int D0 = g.meta_int("d0"), D1 = g.meta_int("d1");
  const int pad_h = g.meta_int("pad_h"), pad_w = g.meta_int("pad_w");
  const bool bias = g.meta_int("bias") == 1;

  autograd::clear_tape();
  Tensor x = leaf(g.at("x"));      // (N, H, W, Cin)
  Tensor P = leaf(g.at("P"));      // (2, Co, Cin_g, Kc), shared by every layer of the chain
  Tensor SIG = leaf(g.at("SIG"));  // (2, Co, Cin_g, Kc)
  std::vector<Tensor> weights, biases;
  Tensor h = x;  // (N, H, W, C) activations along the chain
  for (int i = 0; i < layers; ++i) {
    const std::string li = "layer" + std::to_string(i);
    weights.push_back(leaf(g.at(li + ".weight")));                     // (Co, Cin_g, Kc)
    biases.push_back(bias ? leaf(g.at(li + ".bias")) : Tensor());      // (Co)
    Tensor K = ops::dcls_construct(weights[i], P, SIG, D0, D1);        // (Co, Cin_g, D0, D1)
    expect_close(K, g.at(li + ".kernel"), tol, li + ".kernel");
    if (path == ConvPath::depthwise) {
      h = ops::depthwise_conv2d(h, K, biases[i], ops::DepthwiseParams{1, 1, pad_h, pad_w});
    } else {
      ops::Conv2dParams p;
      p.pad_h = pad_h, p.pad_w = pad_w, p.groups = groups;
      h = ops::conv2d(h, K, biases[i], p);
    }
  }
  expect_close(h, g.at("y"), tol, "y");
  autograd::backward({h}, {g.at("proj")});
  REQUIRE(autograd::tape_size() == 0);
  expect_close(x.grad(), g.at("grad.x"), tol, "grad.x");
  expect_close(P.grad(), g.at("grad.P"), tol, "grad.P");
  expect_close(SIG.grad(), g.at("grad.SIG"), tol, "grad.SIG");
  for (int i = 0; i < layers; ++i) {
    const std::string li = "layer" + std::to_string(i);
    expect_close(weights[i].grad(), g.at("grad." + li + ".weight"), tol, "grad." + li + ".weight");
    if (bias) expect_close(biases[i].grad(), g.at("grad." + li + ".bias"), tol, "grad." + li + ".bias");
  }
}

const char* const kDclsConfigs[] = {"depthwise23", "nonsquare57", "groups1", "shared", "sig_neg_zero", "far_outside"};

}  // namespace

TEST_CASE("dcls golden: Dcls2d layers against dcls 0.1.1", "[dcls][golden]") {
  for (const char* config : kDclsConfigs) {
    for (const char* dtype : {"f64", "f32"}) {
      const std::string file = std::string(config) + "_" + dtype;
      const bool depthwise = std::string(config) != "groups1";
      check_dcls_file(file, ConvPath::dense);
      if (depthwise) check_dcls_file(file, ConvPath::depthwise);
    }
  }
}

TEST_CASE("dcls golden: sign(0) = 0 in the SIG gradient", "[dcls][golden]") {
  // The sig_neg_zero files hold exact zeros in SIG; torch's abs backward gives them a zero gradient.
  const Golden g = load_golden("sig_neg_zero_f64");
  Tensor w = leaf(g.at("layer0.weight")), P = leaf(g.at("P")), SIG = leaf(g.at("SIG"));
  autograd::clear_tape();
  Tensor K = ops::dcls_construct(w, P, SIG, g.meta_int("d0"), g.meta_int("d1"));
  autograd::backward({K}, {Tensor::full(K.shape(), 1.0, K.dtype())});
  const std::vector<double> s = SIG.to_vector<double>(), ds = SIG.grad().to_vector<double>();
  int zeros = 0;
  for (size_t e = 0; e < s.size(); ++e) {
    if (s[e] != 0.0) continue;
    ++zeros;
    REQUIRE(ds[e] == 0.0);
  }
  REQUIRE(zeros > 0);
}

TEST_CASE("dcls golden: depthwise_conv2d strides and paddings against torch", "[depthwise][golden]") {
  for (const char* file : {"dwconv_f64", "dwconv_f32"}) {
    const Golden g = load_golden(file);
    const int cases = g.meta_int("cases");
    for (int j = 0; j < cases; ++j) {
      const std::string cj = "case" + std::to_string(j);
      INFO("golden file " << file << ", " << cj << " (stride_h,stride_w,pad_h,pad_w) = " << g.meta.at(cj));
      ops::DepthwiseParams p;
      REQUIRE(std::sscanf(g.meta.at(cj).c_str(), "%d,%d,%d,%d", &p.stride_h, &p.stride_w, &p.pad_h, &p.pad_w) == 4);
      autograd::clear_tape();
      Tensor x = leaf(g.at(cj + ".x")), w = leaf(g.at(cj + ".weight")), b = leaf(g.at(cj + ".bias"));
      Tensor y = ops::depthwise_conv2d(x, w, b, p);  // (N, Ho, Wo, C)
      expect_close(y, g.at(cj + ".y"), g.tol(), "y");
      autograd::backward({y}, {g.at(cj + ".proj")});
      expect_close(x.grad(), g.at(cj + ".grad.x"), g.tol(), "grad.x");
      expect_close(w.grad(), g.at(cj + ".grad.weight"), g.tol(), "grad.weight");
      expect_close(b.grad(), g.at(cj + ".grad.bias"), g.tol(), "grad.bias");
    }
  }
}
