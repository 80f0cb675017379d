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
//
// --only loader: samples/s of data::Loader (read float16 -> float, optional augmentation, normalisation, batch
// assembly) over a spectrogram file (--data), for each --workers count; --synthetic N first writes N random
// clips at the paper's front end (128 x 1001, float16, 527 classes) into --data and reports the write rate.
// docs/spectrogram-hdf5.md records the numbers.
#include <omp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/spectrogram_h5.h"
#include "engine/app_main.h"
#include "engine/autograd.h"
#include "engine/init.h"
#include "engine/rng.h"
#include "ops/dcls_construct.h"
#include "ops/depthwise_conv2d.h"
#include "models/audio_model.h"
#include "ops/bce_loss.h"

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

struct LoaderBenchConfig {
  std::string data;
  int64_t synthetic = 0;
  std::vector<int> workers{1, 2};
  int batch = 32, epochs = 2;
  bool augment = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds of all threads of this process (user + system): on a shared machine a steadier measure of the
// work per sample than the wall clock.
double process_cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// N clips of dB-like noise in [-100, 20) and ~1% positive labels, written as the preprocessing tool would.
void write_synthetic(const std::string& path, int64_t n) {
  const data::FrontEndConfig fe;  // the paper's: 128 mels x 1001 frames
  const int K = 527;
  const int64_t MT = int64_t(fe.n_mels) * fe.frames();
  std::vector<float> x(static_cast<size_t>(MT));
  std::vector<uint8_t> y(K);
  auto t0 = std::chrono::steady_clock::now();
  {
    data::SpectrogramWriter w(path, fe, K, false, false, "engine_bench synthetic clips");
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < MT; ++k) x[size_t(k)] = -100.0f + 120.0f * philox_uniform(1, uint64_t(i), uint64_t(k));
      for (int c = 0; c < K; ++c) y[size_t(c)] = philox_uniform(2, uint64_t(i), uint64_t(c)) < 0.01f;
      w.append("synthetic" + std::to_string(i), x.data(), y.data(), "synthetic");
    }
    w.finish();
  }
  std::printf("wrote %lld synthetic clips (%d x %d float16) to %s: %.1f clips/s (incl. drawing the noise)\n",
              (long long)n, fe.n_mels, fe.frames(), path.c_str(), double(n) / seconds_since(t0));
}

void bench_loader(const LoaderBenchConfig& c) {
  USER_CHECK(!c.data.empty(), "--only loader needs --data FILE (with --synthetic N to create it)");
  if (c.synthetic > 0) write_synthetic(c.data, c.synthetic);
  {
    const data::SpectrogramReader file(c.data);
    std::printf("%s: %lld clips of %d x %d %s, %d classes\n", c.data.c_str(), (long long)file.size(),
                file.front_end().n_mels, file.front_end().frames(), file.float32() ? "float32" : "float16",
                file.num_classes());
  }
  std::printf("%-8s %-7s %-8s %8s %10s %10s %12s %16s\n", "workers", "batch", "augment", "epochs", "batches",
              "seconds", "samples/s", "cpu ms/sample");
  for (int workers : c.workers) {
    data::LoaderConfig lc;
    lc.path = c.data;
    lc.batch_size = c.batch;
    lc.workers = workers;
    lc.augment = c.augment;
    data::Loader loader(lc);
    data::Batch b;
    int64_t batches = 0, samples = 0;
    auto t0 = std::chrono::steady_clock::now();  // includes starting the workers and filling the queue
    const double cpu0 = process_cpu_seconds();
    for (int e = 0; e < c.epochs; ++e)
      while (loader.next(b)) {
        ++batches;
        samples += b.x.size(0);
      }
    const double s = seconds_since(t0), cpu = process_cpu_seconds() - cpu0;
    std::printf("%-8d %-7d %-8s %8d %10lld %10.3f %12.1f %16.3f\n", workers, c.batch, c.augment ? "yes" : "no",
                c.epochs, (long long)batches, s, double(samples) / s, 1e3 * cpu / double(samples));
  }
}

// Training and inference throughput of the full-size models: random normalised input (batch, 128, 1001, 1),
// train = forward + BCE against random 0/1 targets + backward (train mode, drop path 0), infer = eval-mode
// forward without the tape; the median over `iters` runs after `warmup`, as samples/s. The same
// measurement as tools/bench_reference.py for the paper's PyTorch code.
void bench_models(const std::vector<std::string>& names, int batch, int warmup, int iters, Device dev) {
  std::printf("%-28s %-5s %6s %14s %14s\n", "model", "dev", "batch", "train samp/s", "infer samp/s");
  for (const std::string& name : names) {
    auto model = models::create_model(models::default_config(name));
    model->to(dev);
    Generator gen(1), drop(2);
    Tensor x = random_tensor({batch, 128, 1001, 1}, -2, 2, gen, dev, false);
    Tensor u = random_tensor({batch, 527}, 0, 1, gen, Device::CPU, false);
    std::vector<float> yv = u.to_vector<float>();
    for (float& v : yv) v = v < 0.01f ? 1.f : 0.f;
    const Tensor y = Tensor::from_vector(yv, {batch, 527}).to(dev);
    model->train();
    const Timing train = time_runs([] {}, [&] {
      Tensor loss = ops::bce_with_logits(model->forward(x, drop), y);
      autograd::backward(loss);
    }, warmup, iters, dev);
    model->eval();
    const Timing infer = time_runs([] {}, [&] {
      autograd::NoGradGuard no_grad;
      model->forward(x, drop);
    }, warmup, iters, dev);
    std::printf("%-28s %-5s %6d %14.3f %14.3f\n", name.c_str(), device_name(dev), batch,
                1e3 * batch / train.median_ms, 1e3 * batch / infer.median_ms);
    std::fflush(stdout);
  }
}

int run(int argc, char** argv) {
  CLI::App app{"engine_bench: times the CPU (and CUDA) depthwise conv and DCLS kernel construction, the loader,\n"
               "and the full-size models' training and inference throughput (--only models)"};
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
  std::string only = "kernels";
  LoaderBenchConfig lb;
  std::vector<std::string> model_list = models::model_names();
  app.add_option("--only", only, "kernels (the DCLS hot spots), loader (data::Loader throughput) or models")
      ->check(CLI::IsMember({"kernels", "loader", "models"}));
  app.add_option("--models", model_list, "models: which (default: all six)")->delimiter(',');
  app.add_option("--data", lb.data, "loader: spectrogram HDF5 file to read");
  app.add_option("--synthetic", lb.synthetic, "loader: first write this many random 128x1001 clips into --data")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--workers", lb.workers, "loader: worker thread counts to time")->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  app.add_option("--loader-batch", lb.batch, "loader: batch size")->check(CLI::PositiveNumber);
  app.add_option("--epochs", lb.epochs, "loader: epochs timed per worker count")->check(CLI::PositiveNumber);
  app.add_flag("--augment", lb.augment, "loader: with the training augmentations");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  if (only == "loader") {
    bench_loader(lb);
    return 0;
  }
  USER_CHECK(device != "cuda" || cuda_available(), "--device cuda: no CUDA device (or engine built without CUDA)");
  if (only == "models") {
    std::printf("engine_bench: models, f32, CPU with %d OpenMP threads\n", omp_get_max_threads());
    if (device != "cuda") bench_models(model_list, c.batch, c.warmup, c.iters, Device::CPU);
    if (device != "cpu" && cuda_available()) bench_models(model_list, c.batch, c.warmup, c.iters, Device::CUDA);
    return 0;
  }

  std::printf("engine_bench: f32, CPU with %d OpenMP threads, CUDA %s\n", omp_get_max_threads(),
              cuda_available() ? "present" : "absent");
  std::printf("%-18s %-34s %-5s %10s %10s %9s\n", "op", "shape", "dev", "median ms", "min ms", "GFLOP/s");
  if (device != "cuda") bench_device(c, Device::CPU);
  if (device != "cpu" && cuda_available()) bench_device(c, Device::CUDA);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return engine::run_app("engine_bench", run, argc, argv); }
