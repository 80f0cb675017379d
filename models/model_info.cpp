#include "models/model_info.h"

#include <cstdio>
#include <sstream>

#include "engine/autograd.h"
#include "engine/check.h"
#include "engine/safetensors.h"

namespace engine::models {

namespace {

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::vector<int> split_ints(const std::string& file, const std::string& key, const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      out.push_back(std::stoi(item));
    } catch (const std::exception&) {
      user_error(file, ": metadata ", key, " = '", text, "' is not a list of integers");
    }
  }
  return out;
}

std::string shape_string(const Shape& s) {
  std::ostringstream os;
  for (size_t i = 0; i < s.size(); ++i) os << (i ? " x " : "") << s[i];
  return os.str();
}

std::string list_string(const std::vector<int>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

// Thousands separators, as models.md writes the counts: 28,221,263.
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

void print_summary(AudioTagger& model, int mel_bins, int frames) {
  const ModelConfig& c = model.config();
  std::printf("model: %s\n", model.name().c_str());
  std::printf("variant: %s\n", c.variant == Variant::dcls
                                   ? "dcls (DCLS-Gauss depthwise convs)"
                                   : "dsc (depthwise 7x7 convs)");
  if (c.variant == Variant::dcls)
    std::printf("dcls: %d elements over a %dx%d span, positions and sigmas shared per stage\n", c.dcls_kernel_count,
                c.dcls_span, c.dcls_span);
  if (c.norm == Norm::batch) std::printf("norm: BatchNorm in place of every LayerNorm (not the paper's)\n");
  if (c.head_pool == HeadPool::time_max_mean)
    std::printf("head pool: max + mean over time of the frequency mean (not the paper's)\n");
  std::printf("depths: %s  dims: %s  classes: %d\n", list_string(c.depths).c_str(), list_string(c.dims).c_str(),
              c.num_classes);
  std::printf("shapes for one input of %d mel bins x %d frames (N, H, W, C):\n", mel_bins, frames);
  model.eval();
  std::vector<StageShape> shapes;
  {
    autograd::NoGradGuard no_grad;
    Generator gen(0);
    Tensor x = Tensor::zeros({1, mel_bins, frames, 1});  // (N, H, W, 1)
    model.forward(x, gen, &shapes);
  }
  for (const auto& s : shapes) std::printf("  %-10s %s\n", s.name.c_str(), shape_string(s.shape).c_str());
  std::printf("parameters: %lld\n", (long long)model.num_parameters());
  std::printf("parameters (grouped): %s\n", grouped(model.num_parameters()).c_str());
}

std::map<std::string, std::string> model_metadata(const ModelConfig& c) {
  return {{"format", "pt"},
          {"model", model_name(c)},
          {"dims", join(c.dims)},
          {"depths", join(c.depths)},
          {"num_classes", std::to_string(c.num_classes)},
          {"norm", c.norm == Norm::batch ? "batch" : "layer"},
          {"head_pool", c.head_pool == HeadPool::time_max_mean ? "time_max_mean" : "mean"}};
}

ModelConfig model_config_from_file(const std::string& weights_path, const std::string& fallback_name) {
  return model_config_from_metadata(load_safetensors(weights_path).metadata, weights_path, fallback_name);
}

ModelConfig model_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                       const std::string& weights_path, const std::string& fallback_name) {
  auto it = metadata.find("model");
  if (it == metadata.end()) {
    USER_CHECK(!fallback_name.empty(), weights_path,
               ": the file does not say which model it holds (no model name in its metadata); pass --model NAME");
    return default_config(fallback_name);
  }
  ModelConfig c = default_config(it->second);
  USER_CHECK(fallback_name.empty() || fallback_name == it->second, weights_path, " holds ", it->second,
             ", not the --model ", fallback_name);
  auto get = [&](const char* key) {
    auto m = metadata.find(key);
    USER_CHECK(m != metadata.end(), weights_path, ": metadata has \"model\" but no ", key);
    return m->second;
  };
  c.dims = split_ints(weights_path, "dims", get("dims"));
  c.depths = split_ints(weights_path, "depths", get("depths"));
  auto classes = metadata.find("num_classes");  // absent in files of older engine_models --save: 527
  if (classes != metadata.end()) c.num_classes = split_ints(weights_path, "num_classes", classes->second).at(0);
  auto norm = metadata.find("norm");  // absent in files written before the choice existed: the paper's
  if (norm != metadata.end()) {
    USER_CHECK(norm->second == "layer" || norm->second == "batch", weights_path, ": metadata norm = '", norm->second,
               "', expected layer or batch");
    c.norm = norm->second == "batch" ? Norm::batch : Norm::layer;
  }
  auto pool = metadata.find("head_pool");  // absent in files written before the choice existed: the paper's
  if (pool != metadata.end()) {
    USER_CHECK(pool->second == "mean" || pool->second == "time_max_mean", weights_path, ": metadata head_pool = '",
               pool->second, "', expected mean or time_max_mean");
    c.head_pool = pool->second == "time_max_mean" ? HeadPool::time_max_mean : HeadPool::mean;
  }
  return c;
}

}  // namespace engine::models
