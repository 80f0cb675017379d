// FastViT-SA24 audio taggers (models/fastvit.*; shared/spec/models.md §3, §4, §5.3, §6): PyTorch state-dict
// names/shapes/order (train-time and reparameterized), exact parameter counts, initialisation, per-stage
// shapes of the full model on a 10 s clip, DCLS P/SIG stage sharing, gradients, BatchNorm statistics,
// drop path and inference fusion on small-width variants.
//
// tests/data/statedicts/statedict_fastvit_audio_sa24_reparameterized.txt was written from the reference:
//   m = models.fastvit.fastvit_audio_sa24(num_classes=527, layer_scale_init_value=1e-6).eval()
//   r = models.modules.mobileone.reparameterize_model(m)
//   one line per r.state_dict() item: f"{name}\t{list(shape)}\t{dtype without 'torch.'}"
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/init.h"
#include "models/audio_model.h"
#include "models/fastvit.h"
#include "model_checks.h"

using namespace engine;
using models::ModelConfig;
using test::find_tensor;

namespace {

// SE hidden int(128 * 0.0625) = 8, 2 attention heads.
ModelConfig small_config(const std::string& name) { return test::small_config(name, {8, 16, 32, 64}, 11); }

std::shared_ptr<models::FastViT> create_fastvit(const ModelConfig& c) {
  auto model = std::dynamic_pointer_cast<models::FastViT>(models::create_model(c));
  REQUIRE(model);
  return model;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<double> values(const Tensor& t) {
  if (t.dtype() != DType::i64) return t.to(DType::f64).to_vector<double>();
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  return std::vector<double>(v.begin(), v.end());
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}

bool all_equal(const Tensor& t, double x) {
  const std::vector<double> v = values(t);
  return std::all_of(v.begin(), v.end(), [x](double e) { return e == x; });
}

// Every BatchNorm gets running statistics and affine parameters far from their init, every layer scale
// a value of order 1, so fusion has to fold real statistics (with init values most terms would vanish).
void randomize_bn_and_layer_scales(Module& m, uint64_t seed) {
  Generator gen(seed);
  const NamedTensors params = m.named_parameters();
  for (const auto& [name, t] : m.named_buffers()) {
    if (!ends_with(name, ".running_mean")) continue;
    const std::string bn = name.substr(0, name.size() - std::string("running_mean").size());
    Tensor mean = t, var = find_tensor(m.named_buffers(), bn + "running_var");
    Tensor w = find_tensor(params, bn + "weight"), b = find_tensor(params, bn + "bias");
    REQUIRE((var.defined() && w.defined() && b.defined()));
    init_uniform(mean, -0.5, 0.5, gen);
    init_uniform(var, 0.5, 2.0, gen);
    init_uniform(w, 0.5, 1.5, gen);
    init_uniform(b, -0.3, 0.3, gen);
  }
  for (const auto& [name, t] : params) {
    if (name.find("layer_scale") == std::string::npos) continue;
    Tensor ls = t;
    init_uniform(ls, 0.2, 1.0, gen);
  }
}

}  // namespace

TEST_CASE("fastvit: state dicts match PyTorch key for key and parameter counts are exact", "[model][fastvit]") {
  test::check_full_model_listing("fastvit_audio_sa24", 850, 21064015);
  test::check_full_model_listing("fastvit_dcls_audio_sa24", 900, 21016655);
}

TEST_CASE("fastvit: the reparameterized baseline has the reference's names and 21,011,919 parameters",
          "[model][fastvit]") {
  auto model = create_fastvit(models::default_config("fastvit_audio_sa24"));
  auto fused = model->reparameterized();
  CHECK(fused->fused());
  CHECK_FALSE(fused->is_training());
  test::check_state_dict_listing(*fused, "fastvit_audio_sa24_reparameterized", 363);
  CHECK(fused->num_parameters() == 21011919);
  CHECK(model->num_parameters() == 21064015);  // the train-time model is left as it was
  CHECK_THROWS_AS(fused->reparameterized(), UserError);
}

TEST_CASE("fastvit dcls: one P/SIG pair per stage, RepCPE owns stage 3's", "[model][fastvit]") {
  auto model = models::create_model(models::default_config("fastvit_dcls_audio_sa24"));
  const NamedTensors sd = model->state_dict();
  const NamedTensors params = model->named_parameters();
  auto ffn = [](int net, int block, const std::string& leaf) {
    return "network." + std::to_string(net) + "." + std::to_string(block) + ".convffn.conv.conv." + leaf;
  };
  const int nets[4] = {0, 2, 4, 7}, depths[4] = {4, 4, 12, 4};
  Tensor previous;
  for (int s = 0; s < 4; ++s) {
    INFO("stage " << s);
    const std::string owner = s == 3 ? "network.6.pe." : ffn(nets[s], 0, "");
    Tensor P = find_tensor(sd, owner + "P"), SIG = find_tensor(sd, owner + "SIG");
    REQUIRE(P.defined());
    CHECK(find_tensor(params, owner + "P").is_same(P));  // named_parameters lists the pair under its first layer
    for (int b = 0; b < depths[s]; ++b) {
      CHECK(find_tensor(sd, ffn(nets[s], b, "P")).is_same(P));
      CHECK(find_tensor(sd, ffn(nets[s], b, "SIG")).is_same(SIG));
      if (ffn(nets[s], b, "") != owner) CHECK_FALSE(find_tensor(params, ffn(nets[s], b, "P")).defined());
      CHECK(find_tensor(sd, ffn(nets[s], b, "weight")).shape() == Shape{P.size(1), 1, 26});
      CHECK_FALSE(find_tensor(sd, ffn(nets[s], b, "bias")).defined());  // ConvFFN's dw conv has no bias
    }
    if (previous.defined()) CHECK_FALSE(P.is_same(previous));
    previous = P;
    test::check_dcls_pair_init(P, SIG);
  }
  CHECK(max_abs(find_tensor(sd, "network.6.pe.bias")) == 0.0);  // the paper's DCLS init: bias 0
  // PatchEmbeds (Co = 2 Ci) are never replaced.
  CHECK(find_tensor(sd, "network.5.proj.0.lkb_origin.conv.weight").shape() == Shape{512, 1, 7, 7});
}

TEST_CASE("fastvit: initialisation follows models.md section 4", "[model][fastvit]") {
  auto model = models::create_model(models::default_config("fastvit_audio_sa24"));
  const NamedTensors sd = model->state_dict();
  size_t layer_scales = 0, bns = 0;
  for (const auto& [name, t] : sd) {
    INFO(name);
    if (name.find("layer_scale") != std::string::npos) {
      ++layer_scales;
      CHECK(all_equal(t, double(float(1e-6))));
    }
    if (!ends_with(name, "running_mean")) continue;
    ++bns;
    const std::string bn = name.substr(0, name.size() - std::string("running_mean").size());
    CHECK(all_equal(t, 0.0));
    CHECK(all_equal(find_tensor(sd, bn + "running_var"), 1.0));
    CHECK(all_equal(find_tensor(sd, bn + "num_batches_tracked"), 0.0));
    CHECK(all_equal(find_tensor(sd, bn + "weight"), 1.0));
    CHECK(all_equal(find_tensor(sd, bn + "bias"), 0.0));
  }
  CHECK(layer_scales == 20 * 2 + 4 * 2);
  CHECK(bns == 20 * 5 + 3 * 4 + 4 * 2 + 2);
  // PyTorch-default convs: U(+-1/sqrt(fan_in)); the largest of many draws comes close to the bound.
  auto check_bound = [&](const std::string& name, double bound) {
    INFO(name);
    const double m = max_abs(find_tensor(sd, name));
    CHECK(m <= bound);
    CHECK(m > 0.95 * bound);
  };
  check_bound("network.0.0.token_mixer.mixer.rbr_conv.0.conv.weight", 1.0 / 3.0);
  check_bound("network.0.0.token_mixer.mixer.rbr_scale.conv.weight", 1.0);
  check_bound("network.5.proj.0.lkb_origin.conv.weight", 1.0 / 7.0);
  check_bound("network.5.proj.1.rbr_conv.0.conv.weight", 1.0 / std::sqrt(512.0));
  check_bound("network.6.pe.weight", 1.0 / 7.0);
  check_bound("network.6.pe.bias", 1.0 / 7.0);
  check_bound("conv_exp.se.reduce.weight", 1.0 / 32.0);
  check_bound("conv_exp.se.reduce.bias", 1.0 / 32.0);
  check_bound("conv_exp.rbr_conv.0.conv.weight", 1.0 / 3.0);
  // trunc_normal(.02) convs and linears, zero biases.
  for (const char* name : {"network.4.3.convffn.conv.conv.weight", "network.4.3.convffn.fc1.weight",
                           "network.7.0.token_mixer.qkv.weight", "head.weight", "patch_embed.weight"}) {
    INFO(name);
    const std::vector<double> v = values(find_tensor(sd, name));
    double sq = 0;
    for (double e : v) sq += e * e;
    CHECK(std::sqrt(sq / double(v.size())) == Approx(0.02).epsilon(0.03));
  }
  for (const char* name : {"network.4.3.convffn.fc1.bias", "network.7.0.token_mixer.proj.bias", "head.bias"})
    CHECK(max_abs(find_tensor(sd, name)) == 0.0);
}

TEST_CASE("fastvit: the full-size model gives the paper's stage shapes on a 10 s clip", "[model][fastvit]") {
  auto model = models::create_model(models::default_config("fastvit_audio_sa24"));
  test::check_full_model_shapes(*model, {{"stem", {1, 64, 62, 64}},
                                         {"stage 0", {1, 64, 62, 64}},
                                         {"stage 1", {1, 32, 31, 128}},
                                         {"stage 2", {1, 16, 16, 256}},
                                         {"stage 3", {1, 8, 8, 512}},
                                         {"head", {1, 527}}});
}

TEST_CASE("fastvit small: backward reaches every parameter, shared P/SIG collect gradients", "[model][fastvit]") {
  for (const char* name : {"fastvit_audio_sa24", "fastvit_dcls_audio_sa24"}) {
    INFO(name);
    const ModelConfig c = small_config(name);  // no drop path
    auto model = models::create_model(c);
    const std::vector<models::StageShape> shapes = test::check_backward(*model, {2, 64, 256, 1});
    CHECK(shapes[0].shape == Shape{2, 32, 16, 8});
    CHECK(shapes[4].shape == Shape{2, 4, 2, 64});
    if (c.variant == models::Variant::dcls) {
      // Stage 3's pair is used by RepCPE and the attention block's ConvFFN: one gradient buffer for both.
      const NamedTensors sd = model->state_dict();
      Tensor P = find_tensor(sd, "network.6.pe.P");
      CHECK(find_tensor(sd, "network.7.0.convffn.conv.conv.P").is_same(P));
      CHECK(P.grad().defined());
    }
  }
}

TEST_CASE("fastvit small: training updates BatchNorm statistics, eval leaves them and is deterministic",
          "[model][fastvit]") {
  auto model = models::create_model(small_config("fastvit_dcls_audio_sa24"));
  const Tensor x = test::random_input({2, 64, 256, 1}, 13);  // (N, H, W, 1)
  autograd::NoGradGuard no_grad;
  Generator gen(0);
  model->train();
  model->forward(x, gen);
  size_t bns = 0;
  for (const auto& [name, t] : model->named_buffers()) {
    INFO(name);
    if (ends_with(name, "num_batches_tracked")) {
      ++bns;
      CHECK(t.item<int64_t>() == 1);
    }
    if (ends_with(name, "running_mean")) CHECK(max_abs(t) > 0.0);
  }
  // Per RepMixer block 5 BNs, per PatchEmbed 4, per attention block 2, conv_exp 2.
  CHECK(bns == 4 * 5 + 3 * 4 + 1 * 2 + 2);

  model->eval();
  std::vector<std::vector<double>> saved;
  for (const auto& [name, t] : model->named_buffers()) saved.push_back(values(t));
  Generator g1(1), g2(2);
  const std::vector<float> e1 = model->forward(x, g1).to_vector<float>();
  const std::vector<float> e2 = model->forward(x, g2).to_vector<float>();
  CHECK(e1 == e2);
  size_t i = 0;
  for (const auto& [name, t] : model->named_buffers()) {
    INFO(name);
    CHECK(saved[i++] == values(t));
  }
}

TEST_CASE("fastvit small: drop path is inactive in eval and draws from gen in training", "[model][fastvit]") {
  ModelConfig c = small_config("fastvit_audio_sa24");
  c.drop_path_rate = 0.5;
  c.layer_scale_init = 0.5;  // residual branches large enough that a dropped sample shows in the logits
  auto model = models::create_model(c);
  const Tensor x = test::random_input({4, 64, 256, 1}, 9);  // (N, H, W, 1)
  // 5 blocks, the first at rate 0: three RepMixer blocks draw once, the attention block twice.
  test::check_drop_path(*model, x, 5);
}

TEST_CASE("fastvit small: the reparameterized model computes the train-time model's eval output",
          "[model][fastvit]") {
  for (const char* name : {"fastvit_audio_sa24", "fastvit_dcls_audio_sa24"}) {
    INFO(name);
    auto model = create_fastvit(small_config(name));
    randomize_bn_and_layer_scales(*model, 21);
    model->eval();
    auto fused = model->reparameterized();
    const Tensor x = test::random_input({2, 64, 256, 1}, 17);  // (N, H, W, 1)
    autograd::NoGradGuard no_grad;
    Generator g1(0), g2(0);
    const std::vector<float> got = fused->forward(x, g2).to_vector<float>();
    // max |fused - unfused| relative to max |unfused| (logits of order 0.05: the head is N(0, 0.02)).
    auto rel_error = [&] {
      const std::vector<float> want = model->forward(x, g1).to_vector<float>();
      REQUIRE(got.size() == want.size());
      double err = 0, scale = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, double(std::abs(got[i] - want[i])));
        scale = std::max(scale, double(std::abs(want[i])));
      }
      REQUIRE(scale > 0.01);
      return err / scale;
    };
    const double err = rel_error();
    INFO("relative error " << err);
    CHECK(err <= 1e-5);
    // The comparison sees a single folded statistic: shifting one BN mean of the first RepMixer by 0.01
    // after fusion moves the train-time output well past the tolerance.
    Tensor mean = find_tensor(model->named_buffers(), "network.0.0.token_mixer.mixer.rbr_skip.running_mean");
    std::vector<float> shifted = mean.to_vector<float>();
    for (float& v : shifted) v += 0.01f;
    mean.copy_(Tensor::from_vector(shifted, mean.shape()));
    CHECK(rel_error() > 1e-4);

    const NamedTensors sd = fused->state_dict();
    for (const auto& [key, t] : sd) {
      INFO(key);
      CHECK(key.find("rbr_") == std::string::npos);
      CHECK(key.find("token_mixer.layer_scale") == std::string::npos);
    }
    CHECK(find_tensor(sd, "network.0.0.token_mixer.reparam_conv.weight").shape() == Shape{8, 1, 3, 3});
    CHECK(find_tensor(sd, "network.1.proj.0.lkb_reparam.weight").shape() == Shape{16, 1, 7, 7});
    CHECK(find_tensor(sd, "network.1.proj.1.reparam_conv.weight").shape() == Shape{16, 16, 1, 1});
    CHECK(find_tensor(sd, "conv_exp.reparam_conv.weight").shape() == Shape{128, 1, 3, 3});
    if (std::string(name) == "fastvit_dcls_audio_sa24") {
      // RepCPE becomes a plain depthwise 23x23; stage 3's ConvFFN then owns the pair.
      CHECK(find_tensor(sd, "network.6.reparam_conv.weight").shape() == Shape{64, 1, 23, 23});
      CHECK(find_tensor(fused->named_parameters(), "network.7.0.convffn.conv.conv.P").defined());
      CHECK(max_abs(find_tensor(sd, "network.7.0.convffn.conv.conv.P")) ==
            max_abs(find_tensor(model->state_dict(), "network.6.pe.P")));
    } else {
      CHECK(find_tensor(sd, "network.6.reparam_conv.weight").shape() == Shape{64, 1, 7, 7});
    }
  }
}

TEST_CASE("fastvit: widths the reference cannot build are refused with a UserError", "[model][fastvit]") {
  ModelConfig c = small_config("fastvit_audio_sa24");
  c.dims = {8, 12, 24, 64};  // PatchEmbed 8 -> 12 with groups 8
  CHECK_THROWS_AS(models::create_model(c), UserError);
  c.dims = {8, 16, 32, 48};  // 48 is not a multiple of the head dim 32
  CHECK_THROWS_AS(models::create_model(c), UserError);
  c.dims = {16, 16, 32, 64};  // fine with depthwise 7x7 ...
  CHECK_NOTHROW(models::create_model(c));
  c.variant = models::Variant::dcls;  // ... but DCLS would replace the 16 -> 16 PatchEmbed conv
  CHECK_THROWS_AS(models::create_model(c), UserError);
}
