// engine_smoke: a small training run, the end-to-end check that scripts/demo runs until the real trainers
// (engine_train_<model>) land. Two modes:
//   synthetic (default): the tiny ConvNeXt-shaped tagger on a fixed synthetic batch, loss per step; needs no data.
//   real (--data): one of the paper's six models at a small width, trained on a spectrogram HDF5 written by
//     engine_prep (e.g. the demo dataset) through the streaming loader with the paper's augmentations, mixup
//     and label smoothing; with --eval, the held-out BCE loss and mAP before and after training.
// Dimension legend: B batch, M mel bins, T frames, K classes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "data/augment.h"
#include "data/loader.h"
#include "engine/adamw.h"
#include "engine/app_main.h"
#include "engine/autograd.h"
#include "engine/init.h"
#include "models/audio_model.h"
#include "models/tiny_convnet.h"
#include "ops/bce_loss.h"

using namespace engine;

namespace {

struct Options {
  int steps = 60, batch = 16, epochs = 3, workers = 2;
  double lr = 0;  // 0: the mode's default, 1e-2 synthetic, 2e-3 with --data
  uint64_t seed = 0;
  std::string device = "auto";
  std::string data, eval, model = "convnext_dcls_audio_tiny", dims = "16,32,48,64", depths = "1,1,2,1";
  bool no_augment = false, no_mixup = false;
};

std::vector<int> parse_stage_list(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    USER_CHECK(!item.empty() && *end == 0 && v > 0, flag, ": expected 4 positive integers like 1,1,2,1, got '", text, "'");
    out.push_back(int(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  USER_CHECK(out.size() == 4, flag, ": expected 4 comma-separated values (one per stage), got '", text, "'");
  return out;
}

// Average precision of one class (sklearn's average_precision_score for untied scores): the mean, over
// the positives, of the precision among the clips ranked at or above each positive.
double average_precision(const std::vector<float>& scores, const std::vector<float>& truth) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double hits = 0, sum = 0;
  for (size_t r = 0; r < order.size(); ++r)
    if (truth[order[r]] > 0.5f) sum += ++hits / double(r + 1);
  return hits > 0 ? sum / hits : -1;  // -1: no positive, class left out of the mean
}

struct EvalResult {
  double loss = 0, map = 0;
  int classes = 0;  // classes with at least one positive (those in the mAP)
};

// BCE loss and macro mAP over the classes present, on every clip of the file (no augmentation).
EvalResult evaluate(models::AudioTagger& model, const std::string& path, int batch, Device dev) {
  data::LoaderConfig lc;
  lc.path = path;
  lc.batch_size = batch;
  lc.shuffle = false;
  lc.drop_last = false;
  data::Loader loader(lc);
  model.eval();
  autograd::NoGradGuard no_grad;
  Generator gen(0);
  const int K = model.config().num_classes;
  std::vector<std::vector<float>> scores(static_cast<size_t>(K)), truth(static_cast<size_t>(K));  // (K) per class
  double loss_sum = 0;
  int64_t clips = 0;
  data::Batch b;
  while (loader.next(b)) {
    const int B = int(b.x.shape()[0]);
    Tensor logits = model.forward(b.x.to(dev), gen);  // (B, K)
    loss_sum += ops::bce_with_logits(logits, b.y.to(dev)).item<float>() * B;
    clips += B;
    std::vector<float> lv = logits.to(Device::CPU).to_vector<float>(), yv = b.y.to_vector<float>();
    for (int n = 0; n < B; ++n)
      for (int k = 0; k < K; ++k) {
        scores[size_t(k)].push_back(lv[size_t(n) * K + k]);
        truth[size_t(k)].push_back(yv[size_t(n) * K + k]);
      }
  }
  EvalResult r;
  r.loss = loss_sum / double(std::max<int64_t>(clips, 1));
  for (int k = 0; k < K; ++k) {
    double ap = average_precision(scores[size_t(k)], truth[size_t(k)]);
    if (ap >= 0) r.map += ap, ++r.classes;
  }
  r.map = r.classes ? r.map / r.classes : 0;
  model.train();
  return r;
}

int run_real(const Options& o, Device dev) {
  models::ModelConfig cfg = models::default_config(o.model);
  cfg.dims = parse_stage_list("--dims", o.dims);
  cfg.depths = parse_stage_list("--depths", o.depths);
  cfg.seed = o.seed;
  cfg.drop_path_rate = 0.1;
  auto model = models::create_model(cfg);
  model->to(dev);

  data::LoaderConfig lc;
  lc.path = o.data;
  lc.batch_size = o.batch;
  lc.seed = o.seed;
  lc.workers = o.workers;
  lc.augment = !o.no_augment;
  data::Loader loader(lc);
  USER_CHECK(loader.reader().num_classes() == cfg.num_classes, o.data, ": ", loader.reader().num_classes(),
             " classes, the model has ", cfg.num_classes);
  USER_CHECK(loader.batches_per_epoch() > 0, o.data, ": ", loader.samples_per_epoch(), " clips, fewer than one batch of ",
             o.batch, " (use a smaller --batch)");
  ParameterArena arena(*model, dev, 2);
  // The recipe's decay group: weights of convs and linears; no decay on biases, norms, scales and DCLS P/SIG.
  AdamW opt(arena, AdamWConfig{}, [](const std::string& name) {
    auto ends = [&](const char* s) { return name.size() >= std::strlen(s) && name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0; };
    return ends(".weight") && name.find("norm") == std::string::npos && name.find("bn.") == std::string::npos;
  });
  std::printf("%s (dims %s, depths %s): %lld parameters, device %s\n", model->name().c_str(), o.dims.c_str(),
              o.depths.c_str(), (long long)model->num_parameters(), device_name(dev));
  std::printf("train: %s, %lld clips, batch %d, %lld steps per epoch, %d epochs, augmentations %s, mixup %s\n",
              o.data.c_str(), (long long)loader.samples_per_epoch(), o.batch, (long long)loader.batches_per_epoch(),
              o.epochs, o.no_augment ? "off" : "on", o.no_mixup ? "off" : "0.8 with label smoothing 0.1");
  EvalResult before;
  if (!o.eval.empty()) {
    before = evaluate(*model, o.eval, o.batch, dev);
    std::printf("held-out before training: loss %.4f, mAP %.4f over %d classes\n", before.loss, before.map,
                before.classes);
  }

  Generator drop_gen(o.seed + 2);
  const data::MixupConfig mixup;
  auto start = std::chrono::steady_clock::now();
  int64_t step = 0, samples = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    double epoch_loss = 0;
    int batches = 0;
    data::Batch b;
    while (loader.next(b)) {
      const int B = int(b.x.shape()[0]);
      if (!o.no_mixup)
        data::mixup_batch(b.x.data<float>(), b.y.data<float>(), B, b.x.numel() / B, cfg.num_classes, mixup, o.seed,
                          uint64_t(step));
      arena.zero_grad();
      Tensor loss = ops::bce_with_logits(model->forward(b.x.to(dev), drop_gen), b.y.to(dev));
      float l = loss.item<float>();
      USER_CHECK(std::isfinite(l), "loss became ", l, " at step ", step + 1, " (try a smaller --lr)");
      autograd::backward(loss);
      opt.step(o.lr);
      epoch_loss += l, ++batches, ++step, samples += B;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("epoch %d  train loss %.4f  (%lld steps, %.1f samples/s)\n", epoch + 1, epoch_loss / batches,
                (long long)step, samples / secs);
  }
  if (!o.eval.empty()) {
    EvalResult after = evaluate(*model, o.eval, o.batch, dev);
    std::printf("held-out after training:  loss %.4f, mAP %.4f over %d classes (before: loss %.4f, mAP %.4f)\n",
                after.loss, after.map, after.classes, before.loss, before.map);
  }
  return 0;
}

int run_synthetic(const Options& o, Device dev) {
  const int steps = o.steps, batch = o.batch;
  const double lr = o.lr;
  const uint64_t seed = o.seed;
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

int run(int argc, char** argv) {
  CLI::App app{"engine_smoke: a small training run; synthetic data by default, or a spectrogram HDF5 with --data"};
  Options o;
  app.add_option("--data", o.data, "spectrogram HDF5 from engine_prep: train one of the six models on it");
  app.add_option("--eval", o.eval, "with --data: held-out spectrogram HDF5 for loss and mAP before/after");
  app.add_option("--model", o.model, "with --data: model name (engine_models --list)");
  app.add_option("--dims", o.dims, "with --data: channels per stage");
  app.add_option("--depths", o.depths, "with --data: blocks per stage");
  app.add_option("--epochs", o.epochs, "with --data: epochs")->check(CLI::PositiveNumber);
  app.add_option("--workers", o.workers, "with --data: loader threads")->check(CLI::NonNegativeNumber);
  app.add_flag("--no-augment", o.no_augment, "with --data: no roll / speed / erasing");
  app.add_flag("--no-mixup", o.no_mixup, "with --data: no mixup and label smoothing");
  app.add_option("--steps", o.steps, "synthetic: optimizer steps")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--lr", o.lr, "AdamW learning rate (default 1e-2 synthetic, 2e-3 with --data)")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "seed for weights, data order, augmentations and drop path");
  app.add_option("--device", o.device, "cpu, cuda or auto (cuda when a GPU is present)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  CLI11_PARSE(app, argc, argv);

  Device dev = Device::CPU;
  if (o.device == "cuda" || (o.device == "auto" && cuda_available())) dev = Device::CUDA;
  USER_CHECK(dev == Device::CPU || cuda_available(), "--device cuda: no CUDA device (or engine built without CUDA)");
  USER_CHECK(!o.data.empty() || o.eval.empty(), "--eval needs --data");
  if (o.lr == 0) o.lr = o.data.empty() ? 1e-2 : 2e-3;
  return o.data.empty() ? run_synthetic(o, dev) : run_real(o, dev);
}

}  // namespace

int main(int argc, char** argv) { return engine::run_app("engine_smoke", run, argc, argv); }
