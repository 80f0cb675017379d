// engine_bench: microbenchmarks of the DCLS hot spots; docs/dcls.md records the numbers.
//   depthwise fwd / bwd : depthwise_conv2d k x k, stride 1, padding k//2, with bias, on x (N, H, W, C);
//                         default: ConvNeXt-T stage 0 with the 23x23 DCLS kernel, 2 x 64 x 62 x 96
//   dcls fwd / bwd      : dcls_construct of C depthwise kernels (weight (C,1,Kc), P/SIG (2,C,1,Kc)) on a
//                         D x D grid; default C = 384, Kc = 26, D = 23 (ConvNeXt-T stage 2)
//   dcls layer fwd/bwd  : both together, the Dcls2d layer of the depthwise shape
// "bwd" times autograd::backward alone (all input gradients: dx, dw, db or dweight, dP, dSIG), after an
// untimed forward. Times are the median and minimum over --iters runs after --warmup runs; CUDA runs are
// synchronised before the clock stops. GFLOP/s counts 2 flops per in-bounds multiply-add (forward), twice
// that for the backward (dx and dw); the construction has no such count and shows "-".
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/init.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"

using namespace engine;

namespace {

struct Timing {
  double median_ms, min_ms;
};

// setup() runs untimed before every timed body() (e.g. the forward that a backward needs).
Timing time_runs(const std::function<void()>& setup, const std::function<void()>& body, int warmup, int iters,
                 Device dev) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + iters; ++i) {
    setup();
    if (dev == Device::CUDA) cuda_synchronize();
    auto t0 = std::chrono::steady_clock::now();
    body();
    if (dev == Device::CUDA) cuda_synchronize();
    auto t1 = std::chrono::steady_clock::now();
    if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

// Number of (output, tap) pairs along one axis whose input index is inside [0, in).
int64_t in_bounds_taps(int64_t in, int64_t k, int64_t pad, int64_t out) {
  int64_t n = 0;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t t = 0; t < k; ++t) n += (o - pad + t >= 0 && o - pad + t < in);
  return n;
}

void report(const char* name, const std::string& shape, Device dev, const Timing& t, double flops) {
  char rate[32] = "-";
  if (flops > 0) std::snprintf(rate, sizeof rate, "%.1f", flops / (t.median_ms * 1e6));
  std::printf("%-18s %-34s %-5s %10.3f %10.3f %9s\n", name, shape.c_str(), device_name(dev), t.median_ms, t.min_ms,
              rate);
}

Tensor random_tensor(const Shape& shape, double lo, double hi, Generator& gen, Device dev, bool requires_grad = true) {
  Tensor t = Tensor::empty(shape);
  init_uniform(t, lo, hi, gen);
  t = t.to(dev);
  t.set_requires_grad(requires_grad);
  return t;
}

struct BenchConfig {
  int batch, height, width, channels, kernel;  // depthwise
  int dcls_channels, kc, dks;                  // construction
  int warmup, iters;
};

void bench_device(const BenchConfig& c, Device dev) {
  Generator gen(1);
  const int64_t N = c.batch, H = c.height, W = c.width, C = c.channels, k = c.kernel;
  const ops::DepthwiseParams p{1, 1, int(k / 2), int(k / 2)};
  const double dw_flops = 2.0 * double(N * C) * double(in_bounds_taps(H, k, k / 2, H)) *
                          double(in_bounds_taps(W, k, k / 2, W));
  const std::string dw_shape = "x " + shape_str({N, H, W, C}) + " k " + std::to_string(k) + "x" + std::to_string(k);

  Tensor x = random_tensor({N, H, W, C}, -1, 1, gen, dev);   // (N, H, W, C)
  Tensor w = random_tensor({C, 1, k, k}, -0.1, 0.1, gen, dev);  // (C, 1, k, k)
  Tensor b = random_tensor({C}, -0.1, 0.1, gen, dev);         // (C)
  Tensor dy = random_tensor({N, H, W, C}, -1, 1, gen, dev, false);  // (N, H, W, C) upstream gradient
  Tensor y;
  auto nothing = [] {};
  {
    autograd::NoGradGuard no_grad;
    report("depthwise fwd", dw_shape, dev,
           time_runs(nothing, [&] { y = ops::depthwise_conv2d(x, w, b, p); }, c.warmup, c.iters, dev), dw_flops);
  }
  report("depthwise bwd", dw_shape, dev,
         time_runs([&] { y = ops::depthwise_conv2d(x, w, b, p); }, [&] { autograd::backward({y}, {dy}); }, c.warmup,
                   c.iters, dev),
         2 * dw_flops);

  const int64_t Cd = c.dcls_channels, Kc = c.kc, D = c.dks;
  const std::string dc_shape = "C " + std::to_string(Cd) + " Kc " + std::to_string(Kc) + " " + std::to_string(D) +
                               "x" + std::to_string(D);
  Tensor weight = random_tensor({Cd, 1, Kc}, -0.05, 0.05, gen, dev);  // (C, 1, Kc)
  Tensor P = random_tensor({2, Cd, 1, Kc}, -D / 2.0, D / 2.0, gen, dev);  // (2, C, 1, Kc)
  Tensor SIG = random_tensor({2, Cd, 1, Kc}, 0.0, 1.0, gen, dev);     // (2, C, 1, Kc)
  Tensor dK = random_tensor({Cd, 1, D, D}, -1, 1, gen, dev, false);          // (C, 1, D, D) upstream gradient
  Tensor K;
  {
    autograd::NoGradGuard no_grad;
    report("dcls fwd", dc_shape, dev,
           time_runs(nothing, [&] { K = ops::dcls_construct(weight, P, SIG, int(D), int(D)); }, c.warmup, c.iters,
                     dev),
           0);
  }
  report("dcls bwd", dc_shape, dev,
         time_runs([&] { K = ops::dcls_construct(weight, P, SIG, int(D), int(D)); },
                   [&] { autograd::backward({K}, {dK}); }, c.warmup, c.iters, dev),
         0);

  // The DCLS layer on the depthwise shape: construction of C kernels of size k, then the convolution.
  Tensor lw = random_tensor({C, 1, Kc}, -0.05, 0.05, gen, dev);        // (C, 1, Kc)
  Tensor lP = random_tensor({2, C, 1, Kc}, -k / 2.0, k / 2.0, gen, dev);  // (2, C, 1, Kc)
  Tensor lS = random_tensor({2, C, 1, Kc}, 0.0, 1.0, gen, dev);        // (2, C, 1, Kc)
  auto layer = [&] { y = ops::depthwise_conv2d(x, ops::dcls_construct(lw, lP, lS, int(k), int(k)), b, p); };
  {
    autograd::NoGradGuard no_grad;
    report("dcls layer fwd", dw_shape, dev, time_runs(nothing, layer, c.warmup, c.iters, dev), dw_flops);
  }
  report("dcls layer bwd", dw_shape, dev,
         time_runs(layer, [&] { autograd::backward({y}, {dy}); }, c.warmup, c.iters, dev), 2 * dw_flops);
}

int run(int argc, char** argv) {
  CLI::App app{"engine_bench: times the CPU (and CUDA) depthwise conv and DCLS kernel construction"};
  BenchConfig c{2, 64, 62, 96, 23, 384, 26, 23, 2, 10};
  std::string device = "all";
  int threads = 0;
  app.add_option("--batch", c.batch, "depthwise: batch N")->check(CLI::PositiveNumber);
  app.add_option("--height", c.height, "depthwise: map height H (mel)")->check(CLI::PositiveNumber);
  app.add_option("--width", c.width, "depthwise: map width W (frames)")->check(CLI::PositiveNumber);
  app.add_option("--channels", c.channels, "depthwise: channels C")->check(CLI::PositiveNumber);
  app.add_option("--kernel", c.kernel, "depthwise: square kernel size k (padding k//2)")->check(CLI::PositiveNumber);
  app.add_option("--dcls-channels", c.dcls_channels, "construction: channels C")->check(CLI::PositiveNumber);
  app.add_option("--kc", c.kc, "construction and layer: kernel elements Kc")->check(CLI::PositiveNumber);
  app.add_option("--dks", c.dks, "construction: dilated kernel size D (D x D grid)")->check(CLI::PositiveNumber);
  app.add_option("--warmup", c.warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  app.add_option("--iters", c.iters, "timed runs (median and min reported)")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "OpenMP threads for the CPU (0: the default)")->check(CLI::NonNegativeNumber);
  app.add_option("--device", device, "cpu, cuda or all (cuda only when a GPU is present)")
      ->check(CLI::IsMember({"all", "cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  USER_CHECK(device != "cuda" || cuda_available(), "--device cuda: no CUDA device (or engine built without CUDA)");

  std::printf("engine_bench: f32, CPU with %d OpenMP threads, CUDA %s\n", omp_get_max_threads(),
              cuda_available() ? "present" : "absent");
  std::printf("%-18s %-34s %-5s %10s %10s %9s\n", "op", "shape", "dev", "median ms", "min ms", "GFLOP/s");
  if (device != "cuda") bench_device(c, Device::CPU);
  if (device != "cpu" && cuda_available()) bench_device(c, Device::CUDA);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UserError& e) {
    std::fprintf(stderr, "engine_bench: %s\n", e.what());
    return 2;
  }
}
