#include "train/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "data/audioset_csv.h"
#include "data/loader.h"
#include "engine/autograd.h"
#include "ops/bce_loss.h"

namespace engine::train {

namespace {

// The ranks' scores and targets, each rank's (n_r, K) rows padded to R = ceil(N/W), gathered and put back in
// file order: rank r's row k is clip r + k W (the unpadded shards of data/loader.h); padding rows are dropped.
void gather_in_file_order(dist::Communicator& comm, Device device, int64_t N, int K, std::vector<float>& rows) {
  const int W = comm.size();
  const int64_t R = (N + W - 1) / W, mine = int64_t(rows.size()) / K;
  ENGINE_CHECK(mine <= R, "rank ", comm.rank(), " evaluated ", mine, " clips, more than ceil(N/W) = ", R);
  std::vector<float> padded(size_t(R * K), 0.f);
  std::copy(rows.begin(), rows.end(), padded.begin());
  const Tensor local = Tensor::from_vector<float>(padded, {R * K}).to(device);
  Tensor all = Tensor::zeros({W * R * K}, DType::f32, device);
  comm.all_gather(local, all);
  const std::vector<float> g = all.to_vector<float>();  // (W, R, K)
  rows.assign(size_t(N * K), 0.f);
  for (int r = 0; r < W; ++r)
    for (int64_t k = 0; r + k * W < N; ++k)
      std::copy_n(g.begin() + (r * R + k) * K, K, rows.begin() + (r + k * W) * K);
}

}  // namespace

Evaluation evaluate(models::AudioTagger& model, const std::string& h5_path, int batch, Device device, int workers,
                    dist::Communicator* comm) {
  const auto start = std::chrono::steady_clock::now();
  const bool split = comm && comm->size() > 1;
  data::LoaderConfig lc;
  lc.path = h5_path;
  lc.batch_size = batch;
  lc.shuffle = false;
  lc.drop_last = false;
  lc.pad = false;  // every clip once, also split over ranks
  lc.workers = workers;
  if (split) lc.rank = comm->rank(), lc.world_size = comm->size();
  data::Loader loader(lc);
  const int K = model.config().num_classes;
  USER_CHECK(loader.reader().num_classes() == K, h5_path, ": ", loader.reader().num_classes(),
             " classes, the model has ", K);
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  Generator unused(0);
  std::vector<float> scores, targets;  // (N, K)
  double loss_sum = 0;
  data::Batch b;
  while (loader.next(b)) {
    const int B = int(b.x.shape()[0]);
    Tensor logits = model.forward(b.x.to(device), unused);  // (B, K)
    loss_sum += double(ops::bce_with_logits(logits, b.y.to(device)).item<float>()) * B;
    const std::vector<float> l = logits.to(Device::CPU).to_vector<float>(), y = b.y.to_vector<float>();
    scores.insert(scores.end(), l.begin(), l.end());
    targets.insert(targets.end(), y.begin(), y.end());
  }
  model.train(was_training);
  if (split) {
    const int64_t N = loader.reader().size();
    gather_in_file_order(*comm, device, N, K, scores);
    gather_in_file_order(*comm, device, N, K, targets);
    Tensor sum = Tensor::from_vector<double>({loss_sum}, {1}).to(device);
    comm->all_reduce(sum, dist::ReduceOp::sum);
    loss_sum = sum.to_vector<double>()[0];
  }
  Evaluation e;
  const int64_t n = int64_t(scores.size()) / K;
  e.metrics = tagging_metrics(scores, targets, n, K);
  e.loss = n > 0 ? loss_sum / double(n) : 0;
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  const TaggingMetrics& m = e.metrics;
  return {{"map", m.map},
          {"mauc", m.mauc},
          {"dprime_mean_of_classes", m.dprime_mean_of_classes},
          {"dprime_of_mean_auc", m.dprime_of_mean_auc},
          {"classes", m.present},
          {"clips", m.clips},
          {"loss", e.loss}};
}

std::string evaluation_summary(const Evaluation& e) {
  const TaggingMetrics& m = e.metrics;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "mAP %.4f  mAUC %.4f  d' %.3f (mean of classes) / %.3f (of mean AUC)  loss %.4f  (%d classes, %lld clips)",
                m.map, m.mauc, m.dprime_mean_of_classes, m.dprime_of_mean_auc, e.loss, m.present, (long long)m.clips);
  return buf;
}

void class_table(int num_classes, std::vector<std::string>& mids, std::vector<std::string>& names) {
  mids.clear();
  names.clear();
  if (num_classes == 527) {
    const data::ClassLabels& labels = data::audioset_class_labels();
    mids = labels.mids;
    names = labels.names;
    return;
  }
  for (int c = 0; c < num_classes; ++c) {
    mids.push_back("");
    names.push_back("class " + std::to_string(c));
  }
}

}  // namespace engine::train
