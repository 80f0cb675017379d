#include "fuzz/targets.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "data/audio_io.h"
#include "data/audioset_csv.h"
#include "data/panns_h5.h"
#include "data/prep.h"
#include "data/spectrogram_check.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"
#include "engine/safetensors.h"
#include "train/config.h"

namespace engine::fuzz {
namespace {

// A file may declare rows of any size, which the callers then allocate as declared (a training clip is
// 128 x 1001, a PANNs clip 320000 samples). Rows larger than this are left unread here: the allocation is
// the file's request, not a parser bug, and would only make the fuzzer run out of memory.
constexpr int64_t kMaxRowValues = int64_t(1) << 22;

void safetensors(const std::string& path) { load_safetensors(path); }

void spectrogram_h5(const std::string& path) {
  {
    data::SpectrogramReader r(path);
    const int64_t values = int64_t(r.front_end().n_mels) * r.front_end().frames();
    if (values > kMaxRowValues) return;
    std::vector<float> logmel(static_cast<size_t>(values));
    std::vector<uint8_t> labels(size_t(r.num_classes()));
    for (int64_t i = 0; i < std::min<int64_t>(r.size(), 4); ++i) {
      r.name(i);
      r.source(i);
      std::string problem;
      r.read(i, logmel.data(), labels.data(), &problem);
    }
    r.source_description();
  }
  data::check_spectrogram_file(path).report();
}

void panns_h5(const std::string& path) {
  data::PannsWaveformFile h5(path);
  if (h5.clip_samples() > kMaxRowValues || h5.num_classes() > kMaxRowValues) return;
  std::vector<float> wave(size_t(h5.clip_samples()));
  std::vector<uint8_t> target(size_t(h5.num_classes()));
  for (int64_t i = 0; i < std::min<int64_t>(h5.size(), 4); ++i) h5.read(i, wave.data(), target.data());
  data::clips_from_panns(h5);
}

void segments_csv(const std::string& path) { data::read_segments_csv(path, data::audioset_class_labels()).num_labels(); }

void manifest(const std::string& path) {
  const auto entries = data::read_manifest(path, data::audioset_class_labels());
  data::clips_from_manifest(entries, std::filesystem::path(path).parent_path().string(), 527);
}

void class_labels(const std::string& path) {
  const data::ClassLabels labels = data::read_class_labels(path);
  if (labels.size() == 0) return;
  labels.find(labels.mids[0]);
  labels.parse_list(labels.names[0] + "," + labels.names[size_t(labels.size() - 1)], path);
}

void config_toml(const std::string& path) {
  const train::TrainConfig c = train::load_config(path, train::paper_config("convnext", "dcls"));
  train::validate(c);
  // to_toml promises that load_config reads its output back to the same configuration.
  const std::string toml = train::to_toml(c);
  const std::string again = path + ".again.toml";
  std::ofstream(again, std::ios::binary) << toml;
  const std::string round_trip = train::to_toml(train::load_config(again, train::paper_config("convnext", "dcls")));
  std::filesystem::remove(again);
  ENGINE_CHECK(round_trip == toml, "to_toml -> load_config changed the configuration:\n", toml, "\n-> \n", round_trip);
}

// The two ways audio comes in: whole clips for engine_prep, streamed and resampled for engine_tag.
void audio(const std::string& path) {
  data::load_clip(path, data::FrontEndConfig{});
  data::AudioReader reader(path, 32000);
  std::vector<float> out;
  while (reader.read(out) && int64_t(out.size()) < kMaxRowValues) {
  }
}

}  // namespace

bool one_line(const std::string& message) {
  return !message.empty() && message.find('\n') == std::string::npos;
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", ".safetensors", safetensors},
      {"spectrogram_h5", ".h5", spectrogram_h5},
      {"panns_h5", ".h5", panns_h5},
      {"segments_csv", ".csv", segments_csv},
      {"manifest_csv", ".csv", manifest},
      {"manifest_jsonl", ".jsonl", manifest},
      {"manifest_ast_json", ".json", manifest},
      {"class_labels_csv", ".csv", class_labels},
      {"config_toml", ".toml", config_toml},
      {"audio", ".wav", audio},
  };
  return all;
}

const Target& target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return t;
  throw InternalError("no fuzz target named " + name);
}

std::optional<std::string> run_input(const Target& t, const uint8_t* data, size_t size) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("engine-fuzz-" + std::to_string(getpid()) + "-" + t.name + t.suffix))
          .string();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
    ENGINE_CHECK(f.good(), "cannot write ", path);
  }
  std::optional<std::string> refused;
  try {
    t.run(path);
  } catch (const UserError& e) {
    refused = e.what();
  }
  std::filesystem::remove(path);
  return refused;
}

int fuzz_one(const char* target_name, const uint8_t* data, size_t size) {
  static const Target& t = target(target_name);
  const std::optional<std::string> refused = run_input(t, data, size);
  if (refused && !one_line(*refused)) {
    std::fprintf(stderr, "a UserError that is not one line: '%s'\n", refused->c_str());
    std::abort();
  }
  return 0;
}

}  // namespace engine::fuzz
