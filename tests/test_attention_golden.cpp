// self_attention and bce_with_logits against PyTorch float64 references (tests/data/attention_golden.txt,
// written by tools/gen_matmul_attention_golden.py): outputs and the gradients of sum(out * R).
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "engine/autograd.h"
#include "ops/attention.h"
#include "ops/bce_loss.h"
#include "tests/harness/op_cases.h"

using namespace engine;

namespace {

struct GoldenTensor {
  Shape shape;
  std::vector<double> values;
};

// Records "name ndim dims..." followed by prod(dims) values; lines starting with '#' are comments.
std::map<std::string, GoldenTensor> load_golden() {
  const std::string path = std::string(ENGINE_TEST_DATA_DIR) + "/attention_golden.txt";
  std::ifstream file(path);
  REQUIRE(file.good());
  std::stringstream body;
  for (std::string line; std::getline(file, line);)
    if (!line.empty() && line[0] != '#') body << line << '\n';
  std::map<std::string, GoldenTensor> out;
  std::string name;
  while (body >> name) {
    int ndim = -1;
    REQUIRE(body >> ndim);
    GoldenTensor g;
    g.shape.resize(size_t(ndim));
    for (auto& d : g.shape) REQUIRE(body >> d);
    g.values.resize(size_t(shape_numel(g.shape)));
    for (double& v : g.values) REQUIRE(body >> v);
    out[name] = g;
  }
  return out;
}

Tensor as_tensor(const GoldenTensor& g) { return Tensor::from_vector(g.values, g.shape); }

void require_close(const Tensor& got, const GoldenTensor& want, const char* what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape);
  double err = testing::max_rel_error(testing::as_doubles(got), want.values);
  CAPTURE(err);
  REQUIRE(err <= 1e-10);
}

}  // namespace

TEST_CASE("golden: self_attention matches PyTorch (f64)", "[golden]") {
  auto g = load_golden();
  const int heads = int(g.at("attn.heads").values.at(0));
  Tensor qkv = as_tensor(g.at("attn.qkv"));  // (N, T, 3*C)
  qkv.set_requires_grad(true);
  autograd::clear_tape();
  Tensor out = ops::self_attention(qkv, heads);  // (N, T, C)
  require_close(out, g.at("attn.out"), "output");
  autograd::backward({out}, {as_tensor(g.at("attn.R"))});
  require_close(qkv.grad(), g.at("attn.dqkv"), "gradient w.r.t. qkv");
}

TEST_CASE("golden: bce_with_logits matches PyTorch (f64, soft targets)", "[golden]") {
  auto g = load_golden();
  Tensor x = as_tensor(g.at("bce.logits"));   // (3, 5)
  Tensor t = as_tensor(g.at("bce.targets"));  // (3, 5)
  x.set_requires_grad(true);
  t.set_requires_grad(true);
  autograd::clear_tape();
  Tensor loss = ops::bce_with_logits(x, t);  // {}
  require_close(loss, g.at("bce.loss"), "loss");
  autograd::backward({loss}, {as_tensor(g.at("bce.R"))});
  require_close(x.grad(), g.at("bce.dlogits"), "gradient w.r.t. logits");
  require_close(t.grad(), g.at("bce.dtargets"), "gradient w.r.t. targets");
}
