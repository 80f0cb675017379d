#include "tests/model_golden.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <vector>

#include "engine/autograd.h"
#include "engine/safetensors.h"
#include "models/audio_model.h"
#include "models/fastvit.h"
#include "ops/bce_loss.h"
#include "tests/harness/golden_file.h"
#include "tests/harness/op_cases.h"

namespace engine::test {

namespace {

std::vector<int> parse_ints(const std::string& csv) {
  std::vector<int> out;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

std::set<std::string> parse_names(const std::string& csv) {
  std::set<std::string> out;
  std::stringstream ss(csv);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.insert(item);
  return out;
}

double rel_error(const Tensor& got, const Tensor& ref, const std::string& what) {
  INFO(what << ": shape " << shape_str(got.shape()) << " vs golden " << shape_str(ref.shape()));
  REQUIRE(got.defined());
  REQUIRE(got.shape() == ref.shape());
  return testing::max_rel_error(testing::as_doubles(got), testing::as_doubles(ref));
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : testing::as_doubles(t)) m = std::max(m, std::fabs(v));
  return m;
}

struct Worst {
  std::string name = "-";
  double err = 0;
  void add(const std::string& n, double e) {
    if (e > err || std::isnan(e)) {
      name = n;
      err = e;
    }
  }
};

}  // namespace

void check_model_golden(const std::string& dir, const std::string& model) {
  INFO("golden " << dir << "/" << model);
  const GoldenFile g(dir + "/" + model + ".golden.safetensors");
  REQUIRE(g.meta("model") == model);
  const GoldenFile in(dir + "/" + g.meta("input"));
  const Tensor x = in.at("x").to(DType::f32);  // (N, H, W, 1), stored as bf16
  const Tensor target = in.at("target");       // (N, K)

  models::ModelConfig cfg = models::default_config(model);
  cfg.dims = parse_ints(g.meta("dims"));
  cfg.depths = parse_ints(g.meta("depths"));
  cfg.num_classes = std::stoi(g.meta("num_classes"));
  cfg.drop_path_rate = 0.0;  // the golden's train step has drop path 0
  std::shared_ptr<models::AudioTagger> m = models::create_model(cfg);
  load_module(*m, dir + "/" + model + ".weights.safetensors");
  Generator gen(1);

  // Eval mode, and FastViT's inference reparameterization of the same weights.
  m->eval();
  double eval_err = 0, reparam_err = -1;
  {
    autograd::NoGradGuard no_grad;
    eval_err = rel_error(m->forward(x, gen), g.at("logits"), "eval logits");
    if (auto* fastvit = dynamic_cast<models::FastViT*>(m.get())) {
      std::shared_ptr<models::FastViT> fused = fastvit->reparameterized();
      reparam_err = rel_error(fused->forward(x, gen), g.at("logits"), "reparameterized eval logits");
    }
  }

  // Train mode (batch statistics in BatchNorm, drop path 0): loss, every gradient, running stats.
  m->train();
  const Tensor logits = m->forward(x, gen);
  const Tensor loss = ops::bce_with_logits(logits, target);
  autograd::backward(loss);
  const double train_err = rel_error(logits, g.at("train_logits"), "train logits");
  const double loss_err = rel_error(loss, g.at("loss"), "loss");

  // Gradients measured against the largest gradient of the model (see model_golden.h).
  std::set<std::string> small = parse_names(g.meta("zero_grads"));
  for (const std::string& n : parse_names(g.meta("bn_invariant_grads"))) small.insert(n);
  const NamedTensors params = m->named_parameters();
  double largest = 0;
  for (const auto& kv : params) largest = std::max(largest, max_abs(g.at("grad." + kv.first)));
  Worst worst_grad, worst_zero;
  size_t golden_grads = 0;
  for (const auto& kv : g.tensors()) golden_grads += kv.first.rfind("grad.", 0) == 0;
  CHECK(golden_grads == params.size());
  for (const auto& [name, p] : params) {
    const Tensor& ref = g.at("grad." + name);
    INFO("gradient of " << name);
    REQUIRE(p.grad().defined());
    if (small.count(name)) {
      REQUIRE(p.grad().shape() == ref.shape());
      std::vector<double> a = testing::as_doubles(p.grad()), b = testing::as_doubles(ref);
      double d = 0;
      for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
      worst_zero.add(name, d / largest);
    } else {
      worst_grad.add(name, rel_error(p.grad(), ref, "gradient of " + name));
    }
  }

  Worst worst_running;
  bool counts_equal = true;
  for (const auto& [name, b] : m->named_buffers()) {
    const Tensor& ref = g.at("running." + name);
    if (b.dtype() == DType::i64) {
      counts_equal = counts_equal && b.to(Device::CPU).item<int64_t>() == ref.item<int64_t>();
    } else {
      worst_running.add(name, rel_error(b, ref, "buffer " + name));
    }
  }

  std::printf("golden %s: eval logits %.2e", model.c_str(), eval_err);
  if (reparam_err >= 0) std::printf(", reparameterized %.2e", reparam_err);
  std::printf(", train logits %.2e, loss %.2e, %zu gradients worst %.2e (%s)", train_err, loss_err, params.size(),
              worst_grad.err, worst_grad.name.c_str());
  if (!small.empty())
    std::printf(", %zu zero/BN-invariant gradients worst %.1e of the largest (%s)", small.size(), worst_zero.err,
                worst_zero.name.c_str());
  if (!m->named_buffers().empty())
    std::printf(", running stats worst %.2e (%s)%s", worst_running.err, worst_running.name.c_str(),
                counts_equal ? "" : ", num_batches_tracked DIFFERS");
  std::printf("\n");
  std::fflush(stdout);

  CHECK(eval_err <= kGoldenEvalTol);
  CHECK(reparam_err <= kGoldenEvalTol);
  CHECK(train_err <= kGoldenTrainTol);
  CHECK(loss_err <= kGoldenTrainTol);
  INFO("worst gradient " << worst_grad.name);
  CHECK(worst_grad.err <= kGoldenTrainTol);
  INFO("worst zero/BN-invariant gradient " << worst_zero.name);
  CHECK(worst_zero.err <= kGoldenZeroGradTol);
  INFO("worst running stat " << worst_running.name);
  CHECK(worst_running.err <= kGoldenEvalTol);
  CHECK(counts_equal);
}

}  // namespace engine::test
