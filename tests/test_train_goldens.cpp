// The training library against the reference implementations, from goldens written by
// tools/gen_train_golden.py (tests/data/train/):
//   schedule_golden.json      train::cosine_schedule vs DCLS-Audio's utils.cosine_scheduler
//   metrics_golden.json       train::tagging_metrics vs scikit-learn (ties, classes with no positives and
//                             classes with no negatives)
//   optim_golden.json         train::Optimizer vs torch.optim.AdamW and timm's Lamb over 10 steps with fixed
//                             gradients, the three parameter groups, the 5x P/SIG rate, accumulation of two
//                             micro-batches, and LAMB's global clip (active and inactive)
//   param_groups_golden.json  train::paper_param_groups of the six full-size models vs DCLS-Audio's
//                             optim_factory.get_parameter_groups
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/param_arena.h"
#include "models/audio_model.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/param_groups.h"
#include "train/schedule.h"

using namespace engine;
using nlohmann::json;

namespace {

json golden(const std::string& name) {
  const std::string path = std::string(ENGINE_TEST_DATA_DIR) + "/train/" + name;
  std::ifstream in(path);
  REQUIRE(in);
  return json::parse(in);
}

// A module holding parameters under dotted names ("conv.weight"), each with the role its name implies, as the
// layers register them.
class FlatModule : public Module {
 public:
  void add(const std::string& name, const Tensor& t) {
    const size_t dot = name.find('.');
    if (dot != std::string::npos) {
      const std::string child = name.substr(0, dot);
      if (!children_.count(child)) children_[child] = register_module(child, std::make_shared<FlatModule>());
      children_[child]->add(name.substr(dot + 1), t);
      return;
    }
    ParamRole role = name == "bias" ? ParamRole::bias
                     : name == "P"  ? ParamRole::dcls_position
                     : name == "SIG" ? ParamRole::dcls_sigma
                                     : ParamRole::weight;
    register_parameter(name, t, role);
  }

 private:
  std::map<std::string, std::shared_ptr<FlatModule>> children_;
};

}  // namespace

TEST_CASE("schedule: cosine with linear warm-up equals utils.cosine_scheduler", "[train][golden]") {
  const json g = golden("schedule_golden.json");
  REQUIRE(g["cases"].size() >= 4);
  for (const json& c : g["cases"]) {
    train::ScheduleConfig sc;
    sc.base = c["base"];
    sc.final_value = c["final"];
    sc.epochs = c["epochs"];
    sc.niter_per_epoch = c["niter"];
    sc.warmup_epochs = c["warmup_epochs"];
    sc.warmup_steps = c["warmup_steps"];
    const std::vector<double> v = train::cosine_schedule(sc);
    const std::vector<double> want = c["values"];
    INFO("base " << sc.base << " epochs " << sc.epochs << " niter " << sc.niter_per_epoch << " warmup "
                 << sc.warmup_epochs << "/" << sc.warmup_steps);
    REQUIRE(v.size() == want.size());
    for (size_t i = 0; i < v.size(); ++i) {
      INFO("iteration " << i);
      REQUIRE(std::abs(v[i] - want[i]) <= 1e-15 * std::max(1.0, std::abs(want[i])) + 1e-18);
    }
  }
}

TEST_CASE("metrics: AP, AUC and both d' equal scikit-learn, ties included", "[train][golden]") {
  const json g = golden("metrics_golden.json");
  for (const json& c : g["cases"]) {
    const int64_t n = c["n"];
    const int k = c["k"];
    const train::TaggingMetrics m = train::tagging_metrics(c["scores"].get<std::vector<float>>(),
                                                            c["targets"].get<std::vector<float>>(), n, k);
    INFO("case n " << n << " k " << k);
    REQUIRE(m.present == c["present"].get<int>());
    for (int j = 0; j < k; ++j) {
      INFO("class " << j);
      REQUIRE(m.per_class[size_t(j)].positives == c["positives"][size_t(j)].get<int64_t>());
      REQUIRE(m.per_class[size_t(j)].present == !c["ap"][size_t(j)].is_null());
      if (!m.per_class[size_t(j)].present) continue;
      REQUIRE(m.per_class[size_t(j)].ap == Approx(c["ap"][size_t(j)].get<double>()).epsilon(1e-12));
      REQUIRE(m.per_class[size_t(j)].auc == Approx(c["auc"][size_t(j)].get<double>()).epsilon(1e-12));
    }
    REQUIRE(m.map == Approx(c["map"].get<double>()).epsilon(1e-12));
    REQUIRE(m.mauc == Approx(c["mauc"].get<double>()).epsilon(1e-12));
    REQUIRE(m.dprime_mean_of_classes == Approx(c["dprime_mean_of_classes"].get<double>()).epsilon(1e-9));
    REQUIRE(m.dprime_of_mean_auc == Approx(c["dprime_of_mean_auc"].get<double>()).epsilon(1e-9));
  }
}

TEST_CASE("optimizers: AdamW and LAMB equal torch and timm over 10 steps", "[train][golden]") {
  const json g = golden("optim_golden.json");
  std::set<std::string> names;
  for (const json& c : g["cases"]) {
    const std::string name = c["name"];
    names.insert(name);
    INFO("case " << name);
    FlatModule m;
    std::vector<Tensor> params;
    for (const json& p : c["params"]) {
      Tensor t = Tensor::from_vector(p["init"].get<std::vector<float>>(), p["shape"].get<Shape>());
      m.add(p["name"], t);
      params.push_back(t);
    }
    const json& gcfg = c["groups"];
    const train::ParamGrouping grouping =
        train::paper_param_groups(m, gcfg["decay"]["weight_decay"], gcfg["no_decay_dcls"]["lr_scale"]);
    // The groups come from the roles and shapes exactly as DCLS-Audio forms them.
    for (size_t i = 0; i < params.size(); ++i)
      REQUIRE(grouping.groups[size_t(grouping.group_of[i])].name == c["params"][i]["group"].get<std::string>());
    ParameterArena arena(m, Device::CPU, train::Optimizer::kStateSlots, grouping.group_of);
    train::OptimizerConfig oc;
    oc.kind = c["optimizer"] == "lamb" ? train::OptimizerKind::lamb : train::OptimizerKind::adamw;
    oc.beta1 = c["betas"][0];
    oc.beta2 = c["betas"][1];
    oc.eps = c["eps"];
    if (c.contains("max_grad_norm")) oc.max_grad_norm = c["max_grad_norm"];
    train::Optimizer opt(arena, grouping.groups, oc);
    const int update_freq = c["update_freq"];

    double worst = 0;
    for (size_t s = 0; s < c["steps"].size(); ++s) {
      const json& st = c["steps"][s];
      REQUIRE(st["lr"]["no_decay_dcls"].get<double>() ==
              Approx(st["lr"]["decay"].get<double>() * gcfg["no_decay_dcls"]["lr_scale"].get<double>()));
      arena.zero_grad();
      for (int u = 0; u < update_freq; ++u)  // as backward of loss / update_freq accumulates: g += g_u * (1/uf)
        for (size_t i = 0; i < params.size(); ++i) {
          const std::vector<float> gu = st["grads"][size_t(u)][i];
          float* gp = params[i].grad().data<float>();
          for (size_t e = 0; e < gu.size(); ++e) gp[e] += gu[e] * (1.f / float(update_freq));
        }
      opt.step(st["lr"]["decay"].get<double>());
      // Error relative to each tensor's largest value: float32 rounding of the same formulas in another
      // operation order stays near 1e-7 of it (an element near zero can differ by more, relative to itself).
      for (size_t i = 0; i < params.size(); ++i) {
        const std::vector<float> want = st["after"][i], got = params[i].to_vector<float>();
        REQUIRE(got.size() == want.size());
        double scale = 1e-30;
        for (float w : want) scale = std::max(scale, double(std::abs(w)));
        for (size_t e = 0; e < got.size(); ++e) worst = std::max(worst, std::abs(double(got[e]) - want[e]) / scale);
      }
    }
    INFO("largest difference over all steps and elements, relative to the tensor's largest value: " << worst);
    REQUIRE(worst < 2e-6);
  }
  REQUIRE(names.count("adamw"));
  REQUIRE(names.count("lamb_clip"));
  REQUIRE(names.count("lamb_noclip"));
}

TEST_CASE("parameter groups of the six full-size models equal DCLS-Audio's", "[train][golden]") {
  const json g = golden("param_groups_golden.json");
  REQUIRE(g.size() == 6);
  for (const auto& [model_name, groups] : g.items()) {
    INFO(model_name);
    auto model = models::create_model(models::default_config(model_name));
    const train::ParamGrouping pg = train::paper_param_groups(*model, 0.05, 5.0);
    const NamedTensors params = model->named_parameters();
    for (size_t gi = 0; gi < pg.groups.size(); ++gi) {
      const std::string gname = pg.groups[gi].name;
      INFO("group " << gname);
      std::vector<std::string> mine;
      int64_t elements = 0;
      for (size_t i = 0; i < params.size(); ++i)
        if (pg.group_of[i] == int(gi)) mine.push_back(params[i].first), elements += params[i].second.numel();
      std::sort(mine.begin(), mine.end());
      const json want = groups.contains(gname) ? groups[gname] : json{{"tensors", 0}, {"elements", 0}, {"names", json::array()}};
      REQUIRE(int64_t(mine.size()) == want["tensors"].get<int64_t>());
      REQUIRE(elements == want["elements"].get<int64_t>());
      REQUIRE(mine == want["names"].get<std::vector<std::string>>());
    }
  }
}
