// engine_smoke: trains the tiny ConvNeXt-shaped tagger on a fixed synthetic batch and prints the loss per
// step. The foundation's end-to-end check (scripts/demo) until the real trainers land.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/adamw.h"
#include "engine/app_main.h"
#include "engine/autograd.h"
#include "engine/init.h"
#include "models/tiny_convnet.h"
#include "ops/bce_loss.h"

using namespace engine;

static int run(int argc, char** argv) {
  CLI::App app{"engine_smoke: train a tiny tagger on synthetic log-mel patches and print the loss"};
  int steps = 60, batch = 16;
  double lr = 1e-2;
  uint64_t seed = 0;
  std::string device = "auto";
  app.add_option("--steps", steps, "optimizer steps")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "AdamW learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed for weights, data and drop path");
  app.add_option("--device", device, "cpu, cuda or auto (cuda when a GPU is present)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);

  Device dev = Device::CPU;
  if (device == "cuda" || (device == "auto" && cuda_available())) dev = Device::CUDA;
  USER_CHECK(dev == Device::CPU || cuda_available(), "--device cuda: no CUDA device (or engine built without CUDA)");

  models::TinyConvNetConfig cfg;
  models::TinyConvNet net(cfg, seed);
  net.to(dev);
  ParameterArena arena(net, dev, 2);
  AdamW opt(arena, AdamWConfig{}, [](const std::string& name) { return name.find("weight") != std::string::npos; });
  std::printf("tiny tagger: %lld parameters, device %s, batch %d, %d steps\n", (long long)net.num_parameters(),
              device_name(dev), batch, steps);

  // Synthetic task: the label of class k is on when the mean of frequency band k of the patch is positive.
  Generator data_gen(seed + 1);
  Tensor x = Tensor::empty({batch, 8, 64, 1});  // (N, H, W, 1)
  init_normal(x, 0.0, 1.0, data_gen);
  std::vector<float> xv = x.to_vector<float>(), tv(size_t(batch) * cfg.classes);
  for (int n = 0; n < batch; ++n)
    for (int k = 0; k < cfg.classes; ++k) {
      double s = 0;
      for (int w = 0; w < 64; ++w) s += xv[(size_t(n) * 8 + k % 8) * 64 + w];
      tv[size_t(n) * cfg.classes + k] = s > 0 ? 1.f : 0.f;
    }
  Tensor targets = Tensor::from_vector(tv, {batch, cfg.classes}).to(dev);  // (N, classes)
  x = x.to(dev);

  Generator drop_gen(seed + 2);
  auto start = std::chrono::steady_clock::now();
  double first = 0, last = 0;
  for (int step = 1; step <= steps; ++step) {
    arena.zero_grad();
    Tensor loss = ops::bce_with_logits(net.forward(x, drop_gen), targets);
    last = loss.item<float>();
    USER_CHECK(std::isfinite(last), "loss became ", last, " at step ", step);
    if (step == 1) first = last;
    autograd::backward(loss);
    opt.step(lr);
    if (step == 1 || step % 10 == 0 || step == steps) std::printf("step %4d  loss %.5f\n", step, last);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loss %.5f -> %.5f in %.2f s (%.1f samples/s)\n", first, last, secs, steps * batch / secs);
  return 0;
}

int main(int argc, char** argv) { return engine::run_app("engine_smoke", run, argc, argv); }
