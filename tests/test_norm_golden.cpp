// ops/layer_norm and ops/batch_norm against float64 PyTorch references (tests/data/norm_golden.txt, written
// by tools/gen_norm_golden.py; its header describes the format). Gradients are those of sum(y * R).
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "ops/batch_norm.h"
#include "ops/layer_norm.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::as_doubles;
using testing::max_rel_error;

namespace {

constexpr double kTol = 1e-10;  // f64 against f64: only summation order differs

struct Record {
  Shape shape;
  std::vector<double> values;
};

const std::map<std::string, Record>& golden() {
  static const std::map<std::string, Record> records = [] {
    std::map<std::string, Record> r;
    const std::string path = std::string(ENGINE_TEST_DATA_DIR) + "/norm_golden.txt";
    std::ifstream in(path);
    if (!in) FAIL("cannot open " << path);
    std::string name;
    while (in >> name) {
      if (name[0] == '#') {
        std::getline(in, name);  // rest of the comment line
        continue;
      }
      Record rec;
      int64_t ndim = 0;
      in >> ndim;
      rec.shape.resize(size_t(ndim));
      for (int64_t& d : rec.shape) in >> d;
      rec.values.resize(size_t(shape_numel(rec.shape)));
      for (double& v : rec.values) in >> v;
      if (!in) FAIL("truncated record " << name << " in " << path);
      r[name] = std::move(rec);
    }
    return r;
  }();
  return records;
}

const Record& record(const std::string& name) {
  auto it = golden().find(name);
  if (it == golden().end()) FAIL("no record " << name << " in norm_golden.txt");
  return it->second;
}

Tensor tensor(const std::string& name) {
  const Record& r = record(name);
  return Tensor::from_vector(r.values, r.shape);
}

double scalar(const std::string& name) { return record(name).values.at(0); }

void check_close(const std::string& name, const Tensor& got) {
  INFO(name);
  REQUIRE(got.shape() == record(name).shape);
  double err = max_rel_error(as_doubles(got), record(name).values);
  INFO("max relative error " << err);
  REQUIRE(err <= kTol);
}

void check_layer_norm(const std::string& c, bool with_bias) {
  Tensor x = tensor(c + ".x").set_requires_grad(true);  // (..., C)
  Tensor w = tensor(c + ".w").set_requires_grad(true);  // (C)
  Tensor b = with_bias ? tensor(c + ".b").set_requires_grad(true) : Tensor();  // (C)
  autograd::clear_tape();
  Tensor y = ops::layer_norm(x, w, b, scalar(c + ".eps"));  // (..., C)
  autograd::backward({y}, {tensor(c + ".R")});
  check_close(c + ".y", y);
  check_close(c + ".dx", x.grad());
  check_close(c + ".dw", w.grad());
  if (with_bias) check_close(c + ".db", b.grad());
}

// One batch_norm2d forward of golden case c on fresh copies of its buffers (updated in place in training).
struct BatchNormRun {
  Tensor y, x, w, b, running_mean, running_var, num_batches_tracked;
};

BatchNormRun run_batch_norm(const std::string& c, bool training) {
  BatchNormRun r;
  r.x = tensor(c + ".x").set_requires_grad(true);  // (N, H, W, C)
  r.w = tensor(c + ".w").set_requires_grad(true);  // (C)
  r.b = tensor(c + ".b").set_requires_grad(true);  // (C)
  r.running_mean = tensor(c + ".running_mean");    // (C)
  r.running_var = tensor(c + ".running_var");      // (C)
  r.num_batches_tracked =
      Tensor::from_vector(std::vector<int64_t>{int64_t(scalar(c + ".num_batches_tracked"))}, Shape{});  // ()
  ops::BatchNormParams p;
  p.training = training;
  p.momentum = scalar(c + ".momentum");
  p.eps = scalar(c + ".eps");
  r.y = ops::batch_norm2d(r.x, r.w, r.b, r.running_mean, r.running_var, r.num_batches_tracked, p);  // (N, H, W, C)
  return r;
}

void check_buffers(const std::string& c, const BatchNormRun& r) {
  check_close(c + ".running_mean_after", r.running_mean);
  check_close(c + ".running_var_after", r.running_var);
  REQUIRE(r.num_batches_tracked.item<int64_t>() == int64_t(scalar(c + ".num_batches_tracked_after")));
}

void check_batch_norm(const std::string& c, bool training) {
  autograd::clear_tape();
  BatchNormRun r = run_batch_norm(c, training);
  autograd::backward({r.y}, {tensor(c + ".R")});
  check_close(c + ".y", r.y);
  check_close(c + ".dx", r.x.grad());
  check_close(c + ".dw", r.w.grad());
  check_close(c + ".db", r.b.grad());
  check_buffers(c, r);
}

}  // namespace

TEST_CASE("golden: layer_norm weight-only matches PyTorch", "[golden]") { check_layer_norm("ln_w", false); }

TEST_CASE("golden: layer_norm affine matches PyTorch", "[golden]") { check_layer_norm("ln_wb", true); }

TEST_CASE("golden: batch_norm2d training matches PyTorch", "[golden]") {
  check_batch_norm("bn_train", true);
  check_batch_norm("bn_train_momentum", true);
}

TEST_CASE("golden: batch_norm2d eval matches PyTorch and leaves the buffers alone", "[golden]") {
  check_batch_norm("bn_eval", false);
}

TEST_CASE("golden: batch_norm2d running stats after one training step match PyTorch", "[golden]") {
  // A fresh nn.BatchNorm2d (running_mean 0, running_var 1, momentum 0.1) and one with random buffers.
  for (const char* c : {"bn_train", "bn_train_momentum"}) {
    INFO(c);
    autograd::NoGradGuard no_grad;  // the buffers update without autograd too
    BatchNormRun r = run_batch_norm(c, true);
    check_close(std::string(c) + ".y", r.y);
    check_buffers(c, r);
  }
}
