// conv2d against PyTorch: tests/data/conv2d_golden.txt (written by tools/gen_conv2d_golden.py, format in
// its header) holds inputs, outputs and the gradients of sum(y * r), float64, channels-last.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>

#include "engine/autograd.h"
#include "ops/conv2d.h"
#include "tests/harness/op_cases.h"

using namespace engine;

namespace {

struct GoldenCase {
  std::string name;
  ops::Conv2dParams p;
  std::map<std::string, Tensor> t;  // x w b y r dx dw db
};

// Reads '<name> <rank> <dims...>' and the values that follow into an f64 tensor.
Tensor read_tensor(std::istream& in, const std::string& expected_name) {
  std::string name;
  int64_t rank = 0;
  in >> name >> rank;
  REQUIRE(name == expected_name);
  Shape shape(size_t(rank), 0);
  for (auto& s : shape) in >> s;
  std::vector<double> v(size_t(shape_numel(shape)));
  for (auto& e : v) in >> e;
  REQUIRE(in.good());
  return Tensor::from_vector(v, shape);
}

std::vector<GoldenCase> read_golden(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<GoldenCase> cases;
  std::string word;
  while (in >> word) {
    if (word[0] == '#') {
      std::getline(in, word);  // rest of the comment line
      continue;
    }
    REQUIRE(word == "case");
    GoldenCase c;
    in >> c.name >> word;
    REQUIRE(word == "params");
    in >> c.p.stride_h >> c.p.stride_w >> c.p.pad_h >> c.p.pad_w >> c.p.groups;
    for (const char* n : {"x", "w", "b", "y", "r", "dx", "dw", "db"}) c.t[n] = read_tensor(in, n);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

TEST_CASE("golden: conv2d matches PyTorch (forward and gradients, f64)", "[golden]") {
  auto cases = read_golden(std::string(ENGINE_TEST_DATA_DIR) + "/conv2d_golden.txt");
  REQUIRE(cases.size() == 2);
  for (auto& c : cases) {
    INFO("case " << c.name);
    Tensor x = c.t["x"].clone().set_requires_grad(true);  // (N, H, W, Ci)
    Tensor w = c.t["w"].clone().set_requires_grad(true);  // (Co, Ci/G, kh, kw)
    Tensor b = c.t["b"].clone().set_requires_grad(true);  // (Co)
    autograd::clear_tape();
    Tensor y = ops::conv2d(x, w, b, c.p);  // (N, Ho, Wo, Co)
    REQUIRE(y.shape() == c.t["y"].shape());
    REQUIRE(testing::max_rel_error(y.to_vector<double>(), c.t["y"].to_vector<double>()) <= 1e-10);
    autograd::backward({y}, {c.t["r"]});
    REQUIRE(testing::max_rel_error(x.grad().to_vector<double>(), c.t["dx"].to_vector<double>()) <= 1e-10);
    REQUIRE(testing::max_rel_error(w.grad().to_vector<double>(), c.t["dw"].to_vector<double>()) <= 1e-10);
    REQUIRE(testing::max_rel_error(b.grad().to_vector<double>(), c.t["db"].to_vector<double>()) <= 1e-10);
  }
}
