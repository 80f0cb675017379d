// CUDA-vs-CPU parity of the six audio taggers at small widths (same code paths as the paper's sizes):
// the same seed builds identical models; one runs on the CPU (the oracle), one on CUDA.
//   eval : logits (N, K)
//   train: (drop path 0, BatchNorm batch statistics) logits, BCE loss and every parameter gradient,
//          and FastViT's BatchNorm running statistics after the step.
// Error measure: testing::max_rel_error per tensor (inf-norm relative). A gradient is measured against
// max(its own largest value, 1e-3 x the model's largest gradient): some are zero or BN-scale-invariant in
// exact arithmetic (tests/model_golden.h), i.e. pure rounding noise on both devices.
// Dimension legend: N batch, H mel bins, W frames, K classes.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/memory.h"
#include "ops/bce_loss.h"
#include "tests/harness/op_cases.h"
#include "tests/model_checks.h"

using namespace engine;

namespace {

constexpr double kEvalRtol = 1e-4;
constexpr double kTrainRtol = 1e-3;

std::vector<int> small_dims(const std::string& name) {
  // FastViT: every PatchEmbed doubles the width, stage 3 a multiple of the head dimension 32.
  return name.rfind("fastvit", 0) == 0 ? std::vector<int>{8, 16, 32, 64} : std::vector<int>{8, 16, 24, 32};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

void check_model_parity(const std::string& name) {
  INFO(name);
  cuda_set_guard_mode(true);
  const models::ModelConfig cfg = test::small_config(name, small_dims(name), 7);
  auto cpu = models::create_model(cfg);
  auto gpu = models::create_model(cfg);
  gpu->to(Device::CUDA);
  Tensor x = test::random_input({2, 128, 1001, 1}, 11);  // (N, H, W, 1)
  Tensor target = test::random_input({2, cfg.num_classes}, 12);  // (N, K) soft targets in (0, 1)
  {
    std::vector<float> t = target.to_vector<float>();
    for (float& v : t) v = 1.f / (1.f + std::exp(-v));
    target = Tensor::from_vector(t, target.shape());
  }

  // eval
  cpu->eval();
  gpu->eval();
  {
    autograd::NoGradGuard no_grad;
    Generator g0(0), g1(0);
    Tensor ref = cpu->forward(x, g0), got = gpu->forward(x.to(Device::CUDA), g1).to(Device::CPU);
    double err = testing::max_rel_error(testing::as_doubles(got), testing::as_doubles(ref));
    INFO("eval logits error " << err);
    CHECK(err <= kEvalRtol);
  }

  // train
  cpu->train();
  gpu->train();
  Generator g0(0), g1(0);
  Tensor loss_cpu = ops::bce_with_logits(cpu->forward(x, g0), target);
  Tensor loss_gpu = ops::bce_with_logits(gpu->forward(x.to(Device::CUDA), g1), target.to(Device::CUDA));
  autograd::backward(loss_cpu);
  autograd::backward(loss_gpu);
  double loss_err = std::fabs(loss_gpu.item<float>() - loss_cpu.item<float>()) / std::fabs(loss_cpu.item<float>());
  INFO("loss " << loss_cpu.item<float>() << " error " << loss_err);
  CHECK(loss_err <= kTrainRtol);

  NamedTensors pc = cpu->named_parameters(), pg = gpu->named_parameters();
  REQUIRE(pc.size() == pg.size());
  double largest = 0;
  for (const auto& [n, p] : pc) largest = std::max(largest, max_abs(testing::as_doubles(p.grad_or_zeros())));
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < pc.size(); ++i) {
    std::vector<double> ref = testing::as_doubles(pc[i].second.grad_or_zeros());
    std::vector<double> got = testing::as_doubles(pg[i].second.grad_or_zeros().to(Device::CPU));
    double scale = std::max(max_abs(ref), 1e-3 * largest);
    double err = 0;
    for (size_t k = 0; k < ref.size(); ++k) err = std::max(err, std::fabs(got[k] - ref[k]) / scale);
    if (err > worst) worst = err, worst_name = pc[i].first;
  }
  INFO("worst gradient " << worst_name << " error " << worst);
  CHECK(worst <= kTrainRtol);

  NamedTensors bc = cpu->named_buffers(), bg = gpu->named_buffers();
  REQUIRE(bc.size() == bg.size());
  for (size_t i = 0; i < bc.size(); ++i) {
    if (bc[i].second.dtype() != DType::f32) continue;  // num_batches_tracked: counted, compared below
    double err = testing::max_rel_error(testing::as_doubles(bg[i].second.to(Device::CPU)),
                                        testing::as_doubles(bc[i].second));
    INFO("buffer " << bc[i].first << " error " << err);
    CHECK(err <= kEvalRtol);
  }
  CHECK_NOTHROW(cuda_check_guards());
  cuda_set_guard_mode(false);
}

}  // namespace

TEST_CASE("model parity: the six taggers at small widths, CUDA against the CPU", "[gpu][models]") {
  for (const std::string& name : models::model_names()) check_model_parity(name);
}
