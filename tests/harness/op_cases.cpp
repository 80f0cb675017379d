#include "tests/harness/op_cases.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "engine/autograd.h"

namespace testing {

using namespace engine;

std::map<std::string, CaseList>& op_case_registry() {
  static std::map<std::string, CaseList> r;
  return r;
}

CaseRegistrar::CaseRegistrar(const char* op, CaseList cases) { op_case_registry()[op] = std::move(cases); }

std::vector<double> as_doubles(const Tensor& t) {
  Tensor c = t.to(Device::CPU);
  if (c.dtype() == DType::f64) return c.to_vector<double>();
  return c.to(DType::f64).to_vector<double>();
}

double max_rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / std::max(den, 1e-30);
}

namespace {

uint64_t case_seed(const std::string& op, const OpCase& c) {
  return std::hash<std::string>{}(op + "/" + c.label);
}

Tensor random_tensor(const Shape& shape, double lo, double hi, std::mt19937_64& rng, DType dtype) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (double& x : v) x = u(rng);
  return Tensor::from_vector(v, shape).to(dtype);
}

std::vector<Tensor> make_inputs(const OpCase& c, std::mt19937_64& rng, DType dtype) {
  std::vector<Tensor> in;
  for (const auto& s : c.inputs) in.push_back(random_tensor(s.shape, s.lo, s.hi, rng, dtype));
  return in;
}

double projected_loss(const std::vector<Tensor>& outs, const std::vector<std::vector<double>>& proj) {
  double L = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    auto o = as_doubles(outs[k]);
    for (size_t i = 0; i < o.size(); ++i) L += proj[k][i] * o[i];
  }
  return L;
}

}  // namespace

void run_gradcheck(const std::string& op, const OpCase& c) {
  INFO("op " << op << ", case " << c.label);
  std::mt19937_64 rng(case_seed(op, c));
  std::vector<Tensor> inputs = make_inputs(c, rng, DType::f64);
  for (size_t i = 0; i < inputs.size(); ++i) inputs[i].set_requires_grad(c.inputs[i].grad);

  autograd::clear_tape();
  std::vector<Tensor> outs = c.forward(inputs);
  REQUIRE(!outs.empty());
  std::vector<std::vector<double>> proj;
  std::vector<Tensor> proj_t;
  for (auto& o : outs) {
    REQUIRE(o.requires_grad());
    Tensor r = random_tensor(o.shape(), -1, 1, rng, DType::f64);
    proj.push_back(r.to_vector<double>());
    proj_t.push_back(r);
  }
  // Pre-filled gradients: backward must add to them, not overwrite.
  std::vector<std::vector<double>> prefill(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!c.inputs[i].grad) continue;
    Tensor g = random_tensor(inputs[i].shape(), -1, 1, rng, DType::f64);
    prefill[i] = g.to_vector<double>();
    inputs[i].set_grad(g);
  }
  autograd::backward(outs, proj_t);
  REQUIRE(autograd::tape_size() == 0);

  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!c.inputs[i].grad) continue;
    INFO("input " << i << " shape " << shape_str(inputs[i].shape()));
    std::vector<double> analytic = inputs[i].grad().to_vector<double>();
    for (size_t e = 0; e < analytic.size(); ++e) analytic[e] -= prefill[i][e];

    // Check every element of small tensors, a random subset (with both ends) of large ones.
    const size_t n = analytic.size();
    std::vector<size_t> idx;
    if (n <= 96) {
      for (size_t e = 0; e < n; ++e) idx.push_back(e);
    } else {
      idx = {0, n - 1};
      std::uniform_int_distribution<size_t> pick(0, n - 1);
      while (idx.size() < 96) idx.push_back(pick(rng));
    }
    double* x = inputs[i].data<double>();
    double scale = 1.0;
    for (double a : analytic) scale = std::max(scale, std::fabs(a));
    double worst = 0;
    for (size_t e : idx) {
      double saved = x[e];
      double h = c.fd_step * std::max(1.0, std::fabs(saved));
      x[e] = saved + h;
      double lp = projected_loss(c.forward(inputs), proj);
      x[e] = saved - h;
      double lm = projected_loss(c.forward(inputs), proj);
      x[e] = saved;
      double numeric = (lp - lm) / (2 * h);
      double err = std::fabs(numeric - analytic[e]) / scale;
      if (err > worst) worst = err;
      INFO("element " << e << ": numeric " << numeric << ", analytic " << analytic[e]);
      REQUIRE(err <= c.gradcheck_rtol);
    }
    CAPTURE(worst);
  }
}

// A case run on two sets of the same inputs (`first`, and `convert` of each of them: on another device, or in
// another dtype), each forward and then backward from the same random projection of its outputs.
struct TwoRuns {
  std::vector<Tensor> first_in, first_out, second_in, second_out;
};

TwoRuns run_twice(const OpCase& c, std::mt19937_64& rng, std::vector<Tensor> first,
                  const std::function<Tensor(const Tensor&)>& convert) {
  TwoRuns r;
  r.first_in = std::move(first);
  for (size_t i = 0; i < r.first_in.size(); ++i) {
    r.second_in.push_back(convert(r.first_in[i]));
    r.first_in[i].set_requires_grad(c.inputs[i].grad);
    r.second_in[i].set_requires_grad(c.inputs[i].grad);
  }
  autograd::clear_tape();
  r.first_out = c.forward(r.first_in);
  std::vector<Tensor> proj_first, proj_second;
  for (auto& o : r.first_out) {
    proj_first.push_back(random_tensor(o.shape(), -1, 1, rng, DType::f32));
    proj_second.push_back(convert(proj_first.back()));
  }
  autograd::backward(r.first_out, proj_first);
  r.second_out = c.forward(r.second_in);
  REQUIRE(r.second_out.size() == r.first_out.size());
  autograd::backward(r.second_out, proj_second);
  return r;
}

// Outputs and input gradients of `got` against those of `want`, relative to the largest of `want`.
void require_close(const OpCase& c, const std::vector<Tensor>& got_out, const std::vector<Tensor>& got_in,
                   const std::vector<Tensor>& want_out, const std::vector<Tensor>& want_in, double rtol) {
  for (size_t k = 0; k < want_out.size(); ++k) {
    INFO("output " << k << " shape " << shape_str(want_out[k].shape()));
    REQUIRE(got_out[k].shape() == want_out[k].shape());
    REQUIRE(max_rel_error(as_doubles(got_out[k]), as_doubles(want_out[k])) <= rtol);
  }
  for (size_t i = 0; i < want_in.size(); ++i) {
    if (!c.inputs[i].grad) continue;
    INFO("gradient of input " << i << " shape " << shape_str(want_in[i].shape()));
    REQUIRE(got_in[i].grad().defined());
    REQUIRE(max_rel_error(as_doubles(got_in[i].grad()), as_doubles(want_in[i].grad())) <= rtol);
  }
}

void run_parity(const std::string& op, const OpCase& c) {
  INFO("op " << op << ", case " << c.label);
  cuda_set_guard_mode(true);
  std::mt19937_64 rng(case_seed(op, c) ^ 0x9e3779b97f4a7c15ull);
  const TwoRuns r = run_twice(c, rng, make_inputs(c, rng, DType::f32), [](const Tensor& t) { return t.to(Device::CUDA); });
  for (const Tensor& o : r.second_out) REQUIRE(o.is_cuda());
  cuda_synchronize();
  cuda_check_guards();
  require_close(c, r.second_out, r.second_in, r.first_out, r.first_in, c.parity_rtol);  // CUDA against the CPU
  cuda_set_guard_mode(false);
}

void run_f32_vs_f64(const std::string& op, const OpCase& c) {
  INFO("op " << op << ", case " << c.label);
  if (c.f32_rtol < 0) {
    WARN("not compared in f32 (see the case): op " << op << ", case " << c.label);
    return;
  }
  std::mt19937_64 rng(case_seed(op, c) ^ 0x632be59bd9b4e019ull);
  // The same values in f64 (f32 -> f64 is exact).
  const TwoRuns r = run_twice(c, rng, make_inputs(c, rng, DType::f32), [](const Tensor& t) { return t.to(DType::f64); });
  for (const Tensor& o : r.first_out) REQUIRE(o.dtype() == DType::f32);
  require_close(c, r.first_out, r.first_in, r.second_out, r.second_in, c.f32_rtol > 0 ? c.f32_rtol : c.parity_rtol);
}

}  // namespace testing
