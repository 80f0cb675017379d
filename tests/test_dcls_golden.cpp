// Golden checks against the real `dcls` 0.1.1 package and torch F.conv2d (tools/gen_dcls_golden.py writes
// tests/data/dcls/*.safetensors; the format is described there).
// Each DCLS config rebuilds the layer chain from dcls_construct + a convolution and compares the dense
// kernels, the output and the gradients of L = sum(proj * y) w.r.t. x, P, SIG and every weight and bias.
// Depthwise configs run both through depthwise_conv2d and through the dense conv2d with groups = C.
// Error measure: testing::max_rel_error = max|got - ref| / max|ref| over the tensor (inf-norm relative
// error); bounds 1e-10 for the f64 files and 1e-5 for the f32 files (computed by torch in f32).
// The nn::Dcls2d module is checked against the f32 files (modules hold f32 parameters), plus its
// initialisation and its P/SIG sharing as seen by state_dict / named_parameters.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/autograd.h"
#include "engine/init.h"
#include "models/dcls2d.h"
#include "ops/conv2d.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"
#include "tests/harness/golden_file.h"
#include "tests/harness/op_cases.h"

using namespace engine;

namespace {

// The file's bound: 1e-10 for f64 goldens, 1e-5 for f32 ones (computed by torch in f32).
double golden_tol(const test::GoldenFile& g) { return g.meta("dtype") == "f64" ? 1e-10 : 1e-5; }

test::GoldenFile load_golden(const std::string& file) {
  return test::GoldenFile(std::string(ENGINE_TEST_DATA_DIR) + "/dcls/" + file + ".safetensors");
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
  const test::GoldenFile g = load_golden(file);
  const double tol = golden_tol(g);
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
  const test::GoldenFile g = load_golden("sig_neg_zero_f64");
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
    const test::GoldenFile g = load_golden(file);
    const int cases = g.meta_int("cases");
    for (int j = 0; j < cases; ++j) {
      const std::string cj = "case" + std::to_string(j);
      INFO("golden file " << file << ", " << cj << " (stride_h,stride_w,pad_h,pad_w) = " << g.meta(cj));
      ops::DepthwiseParams p;
      REQUIRE(std::sscanf(g.meta(cj).c_str(), "%d,%d,%d,%d", &p.stride_h, &p.stride_w, &p.pad_h, &p.pad_w) == 4);
      autograd::clear_tape();
      Tensor x = leaf(g.at(cj + ".x")), w = leaf(g.at(cj + ".weight")), b = leaf(g.at(cj + ".bias"));
      Tensor y = ops::depthwise_conv2d(x, w, b, p);  // (N, Ho, Wo, C)
      expect_close(y, g.at(cj + ".y"), golden_tol(g), "y");
      autograd::backward({y}, {g.at(cj + ".proj")});
      expect_close(x.grad(), g.at(cj + ".grad.x"), golden_tol(g), "grad.x");
      expect_close(w.grad(), g.at(cj + ".grad.weight"), golden_tol(g), "grad.weight");
      expect_close(b.grad(), g.at(cj + ".grad.bias"), golden_tol(g), "grad.bias");
    }
  }
}

namespace {

nn::Dcls2dConfig config_of(const test::GoldenFile& g) {
  nn::Dcls2dConfig c;
  c.in_channels = g.meta_int("cin"), c.out_channels = g.meta_int("cout"), c.kernel_count = g.meta_int("kc");
  c.dks_h = g.meta_int("d0"), c.dks_w = g.meta_int("d1");
  c.pad_h = g.meta_int("pad_h"), c.pad_w = g.meta_int("pad_w");
  c.groups = g.meta_int("groups"), c.bias = g.meta_int("bias") == 1;
  return c;
}

// A stage of DCLS layers: "0" owns P and SIG, the others share them (DCLS-Audio's replace_depthwise_dcls).
struct DclsStage : Module {
  DclsStage(const nn::Dcls2dConfig& c, int n, nn::Dcls2dInit init, Generator& gen) {
    for (int i = 0; i < n; ++i)
      layers.push_back(register_module(std::to_string(i), std::make_shared<nn::Dcls2d>(
                                                              c, init, gen, i ? layers[0].get() : nullptr)));
  }
  std::vector<std::shared_ptr<nn::Dcls2d>> layers;
};

std::vector<double> values(const Tensor& t) { return testing::as_doubles(t); }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s / double(v.size());
}

double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double e : v) s += (e - m) * (e - m);
  return std::sqrt(s / double(v.size()));
}

}  // namespace

TEST_CASE("dcls golden: nn::Dcls2d module against dcls 0.1.1 (f32)", "[dcls][golden]") {
  for (const char* config : kDclsConfigs) {
    const std::string file = std::string(config) + "_f32";
    INFO("golden file " << file);
    const test::GoldenFile g = load_golden(file);
    const nn::Dcls2dConfig cfg = config_of(g);
    const int layers = g.meta_int("layers");
    Generator gen(7);
    DclsStage stage(cfg, layers, nn::Dcls2dInit::paper, gen);
    NamedTensors sd;
    for (int i = 0; i < layers; ++i) {
      const std::string li = "layer" + std::to_string(i), mi = std::to_string(i) + ".";
      sd.emplace_back(mi + "weight", g.at(li + ".weight"));
      sd.emplace_back(mi + "P", g.at("P"));
      sd.emplace_back(mi + "SIG", g.at("SIG"));
      if (cfg.bias) sd.emplace_back(mi + "bias", g.at(li + ".bias"));
    }
    stage.load_state_dict(sd);

    {
      autograd::NoGradGuard no_grad;  // the kernels compared here are not part of the loss
      for (int i = 0; i < layers; ++i)
        expect_close(stage.layers[i]->dense_kernel(), g.at("layer" + std::to_string(i) + ".kernel"), golden_tol(g),
                     "kernel");
    }
    autograd::clear_tape();
    Tensor x = leaf(g.at("x"));  // (N, H, W, Cin)
    Tensor h = x;
    for (int i = 0; i < layers; ++i) h = stage.layers[i]->forward(h);
    expect_close(h, g.at("y"), golden_tol(g), "y");
    autograd::backward({h}, {g.at("proj")});
    expect_close(x.grad(), g.at("grad.x"), golden_tol(g), "grad.x");
    expect_close(stage.layers[0]->P.grad(), g.at("grad.P"), golden_tol(g), "grad.P");
    expect_close(stage.layers[0]->SIG.grad(), g.at("grad.SIG"), golden_tol(g), "grad.SIG");
    for (int i = 0; i < layers; ++i) {
      const std::string li = "layer" + std::to_string(i);
      expect_close(stage.layers[i]->weight.grad(), g.at("grad." + li + ".weight"), golden_tol(g),
                   "grad." + li + ".weight");
      if (cfg.bias)
        expect_close(stage.layers[i]->bias.grad(), g.at("grad." + li + ".bias"), golden_tol(g), "grad." + li + ".bias");
    }
  }
}

TEST_CASE("Dcls2d: P/SIG shared across a stage, PyTorch names", "[dcls]") {
  nn::Dcls2dConfig c;
  c.in_channels = c.out_channels = c.groups = 6;
  c.kernel_count = 5, c.dks_h = c.dks_w = 9, c.pad_h = c.pad_w = 4;
  Generator gen(3);
  DclsStage stage(c, 3, nn::Dcls2dInit::paper, gen);
  REQUIRE(stage.layers[1]->P.is_same(stage.layers[0]->P));
  REQUIRE(stage.layers[2]->SIG.is_same(stage.layers[0]->SIG));
  REQUIRE(!stage.layers[1]->weight.is_same(stage.layers[0]->weight));

  std::vector<std::string> params, state;
  for (const auto& kv : stage.named_parameters()) params.push_back(kv.first);
  for (const auto& kv : stage.state_dict()) state.push_back(kv.first);
  REQUIRE(params == std::vector<std::string>{"0.weight", "0.P", "0.SIG", "0.bias", "1.weight", "1.bias", "2.weight",
                                             "2.bias"});
  REQUIRE(state == std::vector<std::string>{"0.weight", "0.P", "0.SIG", "0.bias", "1.weight", "1.P", "1.SIG",
                                            "1.bias", "2.weight", "2.P", "2.SIG", "2.bias"});
  // 3 weights (6,1,5) + 3 biases (6) + one P and one SIG (2,6,1,5).
  REQUIRE(stage.num_parameters() == 3 * 30 + 3 * 6 + 2 * 60);

  // The shared P/SIG gradient of one backward over all layers is the sum of the layers' own gradients
  // (f32, summed in another order).
  Generator data(11);
  Tensor x = Tensor::empty({2, 5, 7, 6});  // (N, H, W, C)
  init_uniform(x, -1, 1, data);
  std::vector<double> sum_dP(60, 0.0), sum_dSIG(60, 0.0);  // (2, 6, 1, 5)
  for (int i = 0; i < 3; ++i) {
    autograd::clear_tape();
    stage.layers[0]->P.set_grad(Tensor());
    stage.layers[0]->SIG.set_grad(Tensor());
    Tensor y = stage.layers[i]->forward(x);  // (N, H, W, C)
    autograd::backward({y}, {Tensor::full(y.shape(), 1.0)});
    const std::vector<double> dP = values(stage.layers[0]->P.grad()), dS = values(stage.layers[0]->SIG.grad());
    for (size_t e = 0; e < dP.size(); ++e) sum_dP[e] += dP[e], sum_dSIG[e] += dS[e];
  }
  autograd::clear_tape();
  stage.layers[0]->P.set_grad(Tensor());
  stage.layers[0]->SIG.set_grad(Tensor());
  std::vector<Tensor> ys, seeds;
  for (int i = 0; i < 3; ++i) {
    ys.push_back(stage.layers[i]->forward(x));
    seeds.push_back(Tensor::full(ys.back().shape(), 1.0));
  }
  autograd::backward(ys, seeds);
  REQUIRE(testing::max_rel_error(values(stage.layers[0]->P.grad()), sum_dP) < 1e-5);
  REQUIRE(testing::max_rel_error(values(stage.layers[0]->SIG.grad()), sum_dSIG) < 1e-5);
  REQUIRE(testing::max_rel_error(values(stage.layers[0]->P.grad()), sum_dP) < 1e-6);
}

TEST_CASE("Dcls2d: initialisation (dcls.md A.2 and the paper's override)", "[dcls]") {
  nn::Dcls2dConfig c;
  c.in_channels = c.out_channels = c.groups = 384;
  c.kernel_count = 26, c.pad_h = c.pad_w = 11;
  Generator gen(5);
  nn::Dcls2d def(c, nn::Dcls2dInit::dcls_default, gen);
  const double bound = 1.0 / std::sqrt(26.0);  // fan_in = Cin_g * Kc = 26
  const std::vector<double> w = values(def.weight), b = values(def.bias), p = values(def.P), s = values(def.SIG);
  for (double e : w) REQUIRE(std::fabs(e) <= bound);
  for (double e : b) REQUIRE(std::fabs(e) <= bound);
  REQUIRE(std_of(w) == Approx(bound / std::sqrt(3.0)).epsilon(0.03));  // U(-b, b) has std b/sqrt(3)
  REQUIRE(std_of(p) == Approx(0.5).epsilon(0.03));                       // clamp at +-11 never bites
  REQUIRE(std::fabs(mean_of(p)) < 0.02);
  for (double e : s) REQUIRE(e == double(0.23f));

  nn::Dcls2d paper(c, nn::Dcls2dInit::paper, gen);
  REQUIRE(std_of(values(paper.weight)) == Approx(0.02).epsilon(0.03));
  for (double e : values(paper.bias)) REQUIRE(e == 0.0);

  // Same seed, same parameters.
  Generator again(5);
  nn::Dcls2d twin(c, nn::Dcls2dInit::dcls_default, again);
  REQUIRE(values(twin.P) == p);
  REQUIRE(values(twin.weight) == w);

  // Non-square: P[0] is clamped to +-(dks[0] // 2) = 2 and P[1] to +-(dks[1] // 2) = 1, as upstream.
  nn::Dcls2dConfig ns = c;
  ns.dks_h = 5, ns.dks_w = 3, ns.pad_h = 2, ns.pad_w = 1;
  nn::Dcls2d narrow(ns, nn::Dcls2dInit::paper, gen);
  const std::vector<double> np = values(narrow.P);
  const size_t half = np.size() / 2;
  double max0 = 0, max1 = 0;  // max |P[0]|, max |P[1]|
  for (size_t i = 0; i < half; ++i) max0 = std::max(max0, std::fabs(np[i]));
  for (size_t i = half; i < np.size(); ++i) max1 = std::max(max1, std::fabs(np[i]));
  REQUIRE(max0 <= 2.0);
  REQUIRE(max0 > 1.0);
  REQUIRE(max1 == 1.0);  // N(0, 0.5) exceeds 1 for ~5% of the 9984 values
}
