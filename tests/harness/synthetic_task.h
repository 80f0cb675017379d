// A small learnable tagging task as a spectrogram HDF5, shared by the trainer, crash-safety and MPI tests:
// clip i's class c is on with probability 1/2 (Philox, seed); mel bins of band group c (M / K bins each) are
// loud (-10 dB) when c is on, quiet (-40 dB) otherwise, plus uniform noise up to 20 dB. And the small DCLS
// ConvNeXt run those tests train on it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "data/spectrogram_h5.h"
#include "engine/rng.h"
#include "train/config.h"

namespace engine::test {

constexpr int kTaskMels = 32, kTaskFrames = 129, kTaskClasses = 5;

// 8 kHz, 1.6 s clips, 256-point FFT, hop 100: kTaskFrames = 1 + 12800 / 100.
inline data::FrontEndConfig synthetic_task_front_end() {
  data::FrontEndConfig fe;
  fe.sample_rate = 8000;
  fe.clip_samples = 12800;
  fe.n_fft = 256;
  fe.hop = 100;
  fe.n_mels = kTaskMels;
  fe.f_min = 0;
  fe.f_max = 4000;
  return fe;
}

// n clips into `path`; the clips in `silent` are all at the front end's floor, clip `unlabelled` (if >= 0)
// has no label.
inline void write_synthetic_task(const std::string& path, int n, uint64_t seed, const std::vector<int64_t>& silent = {},
                                 int unlabelled = -1) {
  constexpr int M = kTaskMels, T = kTaskFrames, K = kTaskClasses;
  const data::FrontEndConfig fe = synthetic_task_front_end();
  data::SpectrogramWriter w(path, fe, K, true, false, "synthetic test task");
  std::vector<float> x(static_cast<size_t>(M * T));
  std::vector<uint8_t> y(static_cast<size_t>(K));
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < K; ++c)
      y[size_t(c)] = i != unlabelled && (philox_draw(seed, uint64_t(i), uint64_t(c)).v[0] & 1) != 0;
    const bool quiet = std::find(silent.begin(), silent.end(), i) != silent.end();
    for (int m = 0; m < M; ++m)
      for (int t = 0; t < T; ++t) {
        const float noise = philox_uniform(seed + 1, uint64_t(i), uint64_t(m * T + t)) * 20.f;
        x[size_t(m * T + t)] = quiet ? float(10 * std::log10(fe.amin)) : (y[size_t(m * K / M)] ? -10.f : -40.f) + noise;
      }
    w.append("clip" + std::to_string(i), x.data(), y.data(), "synthetic");
  }
  w.finish();
}

// A DCLS ConvNeXt of width 16 and one block a stage, 2 epochs of batch 8 on the CPU, drop path and EMA on,
// every step logged; each test changes what it is about.
inline train::TrainConfig synthetic_task_config(const std::string& train_h5, const std::string& eval_h5,
                                                const std::string& out) {
  train::TrainConfig c = train::paper_config("convnext", "dcls");
  c.model.dims = {16, 16, 16, 16};
  c.model.depths = {1, 1, 1, 1};
  c.model.num_classes = kTaskClasses;
  c.model.drop_path = 0.1;
  c.data.train = train_h5;
  c.data.eval = eval_h5;
  c.data.workers = 1;
  c.data.eval_batch = 8;
  c.optim.lr = 2e-3;
  c.optim.lr_batch = 8;
  c.optim.warmup_epochs = 1;
  c.train.epochs = 2;
  c.train.batch = 8;
  c.train.ema = true;
  c.train.ema_decay = 0.9;
  c.train.log_every = 1;
  c.train.device = "cpu";
  c.train.out = out;
  return c;
}

}  // namespace engine::test
