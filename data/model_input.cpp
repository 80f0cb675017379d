// The front end and normalisation in a checkpoint's metadata; see model_input.h.
#include "data/model_input.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/check.h"

namespace engine::data {

std::map<std::string, std::string> model_input_metadata(const ModelInput& in) {
  const FrontEndConfig& fe = in.fe;
  const nlohmann::json j = {{"sample_rate", fe.sample_rate}, {"clip_samples", fe.clip_samples}, {"n_fft", fe.n_fft},
                            {"hop", fe.hop}, {"n_mels", fe.n_mels}, {"f_min", fe.f_min}, {"f_max", fe.f_max},
                            {"amin", fe.amin}, {"mean", in.mean}, {"std", in.stddev}};
  return {{"front_end", j.dump()}};
}

ModelInput model_input_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file) {
  ModelInput in;
  const auto it = metadata.find("front_end");
  if (it == metadata.end()) return in;
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  USER_CHECK(j.is_object(), file, ": metadata front_end is not a JSON object: ", it->second);
  try {
    FrontEndConfig& fe = in.fe;
    fe.sample_rate = j.at("sample_rate").get<int>();
    fe.clip_samples = j.at("clip_samples").get<int>();
    fe.n_fft = j.at("n_fft").get<int>();
    fe.hop = j.at("hop").get<int>();
    fe.n_mels = j.at("n_mels").get<int>();
    fe.f_min = j.at("f_min").get<double>();
    fe.f_max = j.at("f_max").get<double>();
    fe.amin = j.at("amin").get<double>();
    in.mean = j.at("mean").get<float>();
    in.stddev = j.at("std").get<float>();
  } catch (const nlohmann::json::exception& e) {
    user_error(file, ": metadata front_end: ", e.what());
  }
  USER_CHECK(std::isfinite(in.mean) && in.stddev > 0 && std::isfinite(in.stddev), file,
             ": metadata front_end: normalisation needs a finite mean and a positive std, got ", in.mean, " and ",
             in.stddev);
  return in;
}

}  // namespace engine::data
