#include "tests/harness/op_cases.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
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

void run_parity(const std::string& op, const OpCase& c) {
  INFO("op " << op << ", case " << c.label);
  cuda_set_guard_mode(true);
  std::mt19937_64 rng(case_seed(op, c) ^ 0x9e3779b97f4a7c15ull);
  std::vector<Tensor> cpu_in = make_inputs(c, rng, DType::f32);
  std::vector<Tensor> gpu_in;
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    cpu_in[i].set_requires_grad(c.inputs[i].grad);
    gpu_in.push_back(cpu_in[i].to(Device::CUDA));
    gpu_in.back().set_requires_grad(c.inputs[i].grad);
  }
  autograd::clear_tape();
  std::vector<Tensor> cpu_out = c.forward(cpu_in);
  std::vector<Tensor> proj_cpu, proj_gpu;
  for (auto& o : cpu_out) {
    proj_cpu.push_back(random_tensor(o.shape(), -1, 1, rng, DType::f32));
    proj_gpu.push_back(proj_cpu.back().to(Device::CUDA));
  }
  autograd::backward(cpu_out, proj_cpu);
  std::vector<Tensor> gpu_out = c.forward(gpu_in);
  REQUIRE(gpu_out.size() == cpu_out.size());
  for (size_t k = 0; k < gpu_out.size(); ++k) REQUIRE(gpu_out[k].is_cuda());
  autograd::backward(gpu_out, proj_gpu);
  cuda_synchronize();
  cuda_check_guards();

  for (size_t k = 0; k < cpu_out.size(); ++k) {
    INFO("output " << k << " shape " << shape_str(cpu_out[k].shape()));
    REQUIRE(gpu_out[k].shape() == cpu_out[k].shape());
    REQUIRE(max_rel_error(as_doubles(gpu_out[k]), as_doubles(cpu_out[k])) <= c.parity_rtol);
  }
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    if (!c.inputs[i].grad) continue;
    INFO("gradient of input " << i << " shape " << shape_str(cpu_in[i].shape()));
    REQUIRE(gpu_in[i].grad().defined());
    REQUIRE(max_rel_error(as_doubles(gpu_in[i].grad()), as_doubles(cpu_in[i].grad())) <= c.parity_rtol);
  }
  cuda_set_guard_mode(false);
}

void run_f32_vs_f64(const std::string& op, const OpCase& c) {
  INFO("op " << op << ", case " << c.label);
  if (c.f32_rtol < 0) {
    WARN("not compared in f32 (see the case): op " << op << ", case " << c.label);
    return;
  }
  const double rtol = c.f32_rtol > 0 ? c.f32_rtol : c.parity_rtol;
  std::mt19937_64 rng(case_seed(op, c) ^ 0x632be59bd9b4e019ull);
  std::vector<Tensor> in32 = make_inputs(c, rng, DType::f32), in64;
  for (size_t i = 0; i < in32.size(); ++i) {
    in64.push_back(in32[i].to(DType::f64));  // the same values: f32 -> f64 is exact
    in32[i].set_requires_grad(c.inputs[i].grad);
    in64[i].set_requires_grad(c.inputs[i].grad);
  }
  autograd::clear_tape();
  std::vector<Tensor> out32 = c.forward(in32);
  std::vector<Tensor> proj32, proj64;
  for (auto& o : out32) {
    proj32.push_back(random_tensor(o.shape(), -1, 1, rng, DType::f32));
    proj64.push_back(proj32.back().to(DType::f64));
  }
  autograd::backward(out32, proj32);
  std::vector<Tensor> out64 = c.forward(in64);
  REQUIRE(out64.size() == out32.size());
  autograd::backward(out64, proj64);

  for (size_t k = 0; k < out32.size(); ++k) {
    INFO("output " << k << " shape " << shape_str(out32[k].shape()));
    REQUIRE(out32[k].dtype() == DType::f32);
    REQUIRE(max_rel_error(as_doubles(out32[k]), as_doubles(out64[k])) <= rtol);
  }
  for (size_t i = 0; i < in32.size(); ++i) {
    if (!c.inputs[i].grad) continue;
    INFO("gradient of input " << i << " shape " << shape_str(in32[i].shape()));
    REQUIRE(in32[i].grad().defined());
    REQUIRE(max_rel_error(as_doubles(in32[i].grad()), as_doubles(in64[i].grad())) <= rtol);
  }
}

}  // namespace testing
