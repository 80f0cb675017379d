// End to end on the CPU: a tiny network built from the ops memorises a fixed random batch with AdamW over
// a parameter arena; the loss must fall well below its starting value.
#include <catch2/catch.hpp>

#include "engine/autograd.h"
#include "engine/init.h"
#include "models/tiny_convnet.h"
#include "ops/bce_loss.h"
#include "train/optimizer.h"
#include "train/param_groups.h"

using namespace engine;

TEST_CASE("a tiny network trains on random data on the CPU", "[training]") {
  models::TinyConvNetConfig cfg;
  models::TinyConvNet net(cfg, /*seed=*/1);
  const train::ParamGrouping groups = train::paper_param_groups(net, 0.05, 5.0);
  ParameterArena arena(net, Device::CPU, train::Optimizer::kStateSlots, groups.group_of);
  train::Optimizer opt(arena, groups.groups, train::OptimizerConfig{});

  Generator data_gen(7);
  Tensor x = Tensor::empty({8, 8, 64, 1});  // (N, H, W, 1)
  init_normal(x, 0.0, 1.0, data_gen);
  Tensor u = Tensor::empty({8, cfg.classes});
  init_uniform(u, 0.0, 1.0, data_gen);
  std::vector<float> t = u.to_vector<float>();
  for (float& v : t) v = v < 0.3f ? 1.f : 0.f;
  Tensor targets = Tensor::from_vector(t, {8, cfg.classes});  // (N, classes) multi-hot

  Generator drop_gen(3);
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step) {
    arena.zero_grad();
    Tensor loss = ops::bce_with_logits(net.forward(x, drop_gen), targets);
    losses.push_back(loss.item<float>());
    autograd::backward(loss);
    opt.step(1e-2);
  }
  INFO("first loss " << losses.front() << ", last loss " << losses.back());
  REQUIRE(std::isfinite(losses.back()));
  REQUIRE(losses.back() < 0.5 * losses.front());
}
