// CUDA-vs-CPU parity of the optimizers (train/optimizer.cu against the CPU reference): a small model in
// the three parameter groups, 5 steps of AdamW and of LAMB (clip active) with the same gradients on both
// devices, then the EMA update; parameters and both moments compared (inf-norm relative error).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/init.h"
#include "engine/param_arena.h"
#include "models/audio_model.h"
#include "train/optimizer.h"
#include "train/param_groups.h"

using namespace engine;

namespace {

double max_rel(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to(Device::CPU).to_vector<float>(), y = b.to(Device::CPU).to_vector<float>();
  double worst = 0, scale = 1e-30;
  for (float v : y) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(double(x[i]) - double(y[i])) / scale);
  return worst;
}

void check(train::OptimizerKind kind, float grad_scale) {
  models::ModelConfig c = models::default_config("convnext_dcls_audio_tiny");
  c.dims = {16, 16, 32, 32};
  c.depths = {1, 1, 1, 1};
  c.num_classes = 10;
  auto cpu_model = models::create_model(c), gpu_model = models::create_model(c);
  gpu_model->to(Device::CUDA);
  const train::ParamGrouping g = train::paper_param_groups(*cpu_model, 0.05, 5.0);
  ParameterArena cpu(*cpu_model, Device::CPU, 3, g.group_of), gpu(*gpu_model, Device::CUDA, 3, g.group_of);
  train::OptimizerConfig oc;
  oc.kind = kind;
  train::Optimizer cpu_opt(cpu, g.groups, oc), gpu_opt(gpu, g.groups, oc);
  cpu.state(2).copy_(cpu.values());
  gpu.state(2).copy_(gpu.values());
  Generator gen(7);
  for (int step = 0; step < 5; ++step) {
    Tensor grads = Tensor::empty({cpu.region_numel()});
    init_normal(grads, 0.0, grad_scale, gen);
    // Padding between tensors must stay zero: keep only the segments.
    std::vector<float> gv = grads.to_vector<float>(), masked(gv.size(), 0.f);
    for (const ArenaSegment& s : cpu.segments())
      std::copy_n(gv.begin() + s.offset, s.numel, masked.begin() + s.offset);
    grads = Tensor::from_vector(masked, {cpu.region_numel()});
    cpu.grads().copy_(grads);
    gpu.grads().copy_(grads);
    cpu_opt.step(1e-2 * (step + 1));
    gpu_opt.step(1e-2 * (step + 1));
    train::ema_update(cpu, 2, 0.9);
    train::ema_update(gpu, 2, 0.9);
  }
  REQUIRE(max_rel(gpu.values(), cpu.values()) < 1e-5);
  REQUIRE(max_rel(gpu.state(0), cpu.state(0)) < 1e-5);
  REQUIRE(max_rel(gpu.state(1), cpu.state(1)) < 1e-5);
  REQUIRE(max_rel(gpu.state(2), cpu.state(2)) < 1e-5);
}

}  // namespace

TEST_CASE("optimizer parity: AdamW, CUDA against the CPU", "[gpu][optimizer]") {
  check(train::OptimizerKind::adamw, 1e-2f);
}

TEST_CASE("optimizer parity: LAMB with the global clip active, CUDA against the CPU", "[gpu][optimizer]") {
  check(train::OptimizerKind::lamb, 1.f);
}
