#include "models/fastvit.h"

#include <map>
#include <string>

#include "engine/autograd.h"
#include "engine/check.h"
#include "ops/pool.h"

namespace engine::models {

namespace {

void check_config(const ModelConfig& c) {
  const std::vector<int>& d = c.dims;
  for (size_t s = 0; s + 1 < d.size(); ++s) {
    USER_CHECK(d[s + 1] % d[s] == 0, "fastvit: stage ", s + 1, " width ", d[s + 1],
               " must be a multiple of stage ", s, " width ", d[s], " (PatchEmbed is grouped by its input width)");
    USER_CHECK(c.variant == Variant::dsc || d[s + 1] > d[s], "fastvit_dcls: stage widths must increase, got ",
               d[s], " then ", d[s + 1]);
  }
  USER_CHECK(d[3] % fastvit::MHSA::kHeadDim == 0, "fastvit: stage 3 width ", d[3],
             " must be a multiple of the attention head dim ", fastvit::MHSA::kHeadDim);
  USER_CHECK(c.num_classes >= 1, "fastvit: num_classes must be >= 1, got ", c.num_classes);
}

}  // namespace

FastViT::FastViT(const ModelConfig& config, bool fused) : AudioTagger(config), fused_(fused) {
  check_config(config_);
  Generator gen(config_.seed);
  fastvit::BuildContext ctx{config_, gen, fused, DepthwiseBuilder(config_)};
  const std::vector<int>& dims = config_.dims;

  patch_embed_ = register_module(
      "patch_embed", std::make_shared<fastvit::Conv2d>(fastvit::ConvSpec{1, dims[0], 2, 16, 2, 16, 0, 0, 1, false},
                                                       fastvit::ConvInit::trunc_normal, gen));
  int total = 0;
  for (int depth : config_.depths) total += depth;
  const std::vector<double> rates = drop_path_rates(config_.drop_path_rate, total);
  size_t index = 0;  // block index over all stages

  auto network = register_module("network", std::make_shared<nn::ModuleList>());
  for (int s = 0; s < 4; ++s) {
    const int c = dims[size_t(s)];
    if (s > 0) downsamples_.push_back(network->append(std::make_shared<fastvit::PatchEmbed>(dims[s - 1], c, ctx)));
    if (s == 3) cpe_ = network->append(std::make_shared<fastvit::RepCPE>(c, ctx));
    auto stage = network->append(std::make_shared<nn::ModuleList>());
    if (s < 3) mixer_stages_.emplace_back();
    for (int b = 0; b < config_.depths[size_t(s)]; ++b) {
      const double rate = rates[index++];
      if (s < 3)
        mixer_stages_.back().push_back(stage->append(std::make_shared<fastvit::RepMixerBlock>(c, 3, rate, ctx)));
      else
        attention_blocks_.push_back(stage->append(std::make_shared<fastvit::AttentionBlock>(c, rate, ctx)));
    }
  }
  conv_exp_ = register_module(
      "conv_exp", std::make_shared<fastvit::MobileOneBlock>(
                      fastvit::MobileOneSpec{dims[3], 2 * dims[3], 3, 1, 1, dims[3], true, true, true, 1}, ctx));
  head_ = register_module("head", std::make_shared<nn::Linear>(2 * dims[3], config_.num_classes, true, gen));
}

Tensor FastViT::forward(const Tensor& x, Generator& gen, std::vector<StageShape>* shapes) {
  USER_CHECK(x.dim() == 4 && x.size(3) == 1 && x.size(1) >= 2 && x.size(2) >= 16,
             "fastvit: input must be (N, H >= 2, W >= 16, 1), got ", shape_str(x.shape()));
  auto record = [shapes](const std::string& name, const Tensor& t) {
    if (shapes) shapes->push_back({name, t.shape()});
  };
  Tensor y = patch_embed_->forward(x);  // (N, H/2, W/16, C0)
  record("stem", y);
  for (int s = 0; s < 4; ++s) {
    if (s > 0) y = downsamples_[size_t(s - 1)]->forward(y);  // (N, ceil(H/2), ceil(W/2), C_s)
    if (s < 3) {
      for (const auto& block : mixer_stages_[size_t(s)]) y = block->forward(y, gen);
    } else {
      y = cpe_->forward(y);
      for (const auto& block : attention_blocks_) y = block->forward(y, gen);
    }
    record("stage " + std::to_string(s), y);  // (N, H_s, W_s, C_s)
  }
  y = pool(conv_exp_->forward(y));  // (N, H3, W3, 2 C3) -> (N, 2 C3)
  y = head_->forward(y);                            // (N, K)
  record("head", y);
  return y;
}

std::shared_ptr<FastViT> FastViT::reparameterized() const {
  USER_CHECK(!fused_, "fastvit: the model is already reparameterized");
  autograd::NoGradGuard no_grad;
  auto out = std::make_shared<FastViT>(config_, true);
  for (size_t s = 0; s < mixer_stages_.size(); ++s)
    for (size_t b = 0; b < mixer_stages_[s].size(); ++b) out->mixer_stages_[s][b]->fuse_from(*mixer_stages_[s][b]);
  for (size_t i = 0; i < downsamples_.size(); ++i) out->downsamples_[i]->fuse_from(*downsamples_[i]);
  out->cpe_->fuse_from(*cpe_);
  out->conv_exp_->fuse_from(*conv_exp_);

  // Everything not fused (stem, block layer scales, ConvFFNs, attention, SE, head) keeps its name: copy it
  // by name; the fused convs keep the values just computed.
  std::map<std::string, Tensor> trained;
  for (const auto& [name, t] : state_dict()) trained.emplace(name, t);
  NamedTensors sd = out->state_dict();
  for (auto& [name, t] : sd) {
    auto it = trained.find(name);
    t = it != trained.end() ? it->second : t.clone();
  }
  out->load_state_dict(sd);
  out->to(patch_embed_->weight.device());
  out->eval();
  return out;
}

namespace {
std::shared_ptr<AudioTagger> make_fastvit(const ModelConfig& config) { return std::make_shared<FastViT>(config); }
}  // namespace

ENGINE_REGISTER_ARCH(fastvit, make_fastvit);

}  // namespace engine::models
