// The dataset check of engine_prep --check; see spectrogram_check.h.
#include "data/spectrogram_check.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "data/audioset_csv.h"
#include "data/spectrogram_h5.h"
#include "engine/check.h"

namespace engine::data {

namespace {

struct DigestCloser {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// A 64-bit FNV-1a of a clip's values and labels: the key that finds duplicate candidates (compared in full).
uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

ClipFaults clip_faults(const float* logmel, int64_t n, const uint8_t* labels, int num_classes,
                       const FrontEndConfig& fe, std::string read_problem) {
  ClipFaults f;
  f.non_finite = std::move(read_problem);
  const float floor_db = float(10.0 * std::log10(fe.amin));
  f.silent = std::all_of(logmel, logmel + n, [&](float v) { return v <= floor_db; });  // stops at the first sound
  f.unlabelled = std::none_of(labels, labels + num_classes, [](uint8_t v) { return v != 0; });
  return f;
}

std::string ClipFaults::describe() const {
  std::string s = non_finite;
  if (silent) s += std::string(s.empty() ? "" : ", ") + "silent (every value at the front end's floor)";
  if (unlabelled) s += std::string(s.empty() ? "" : ", ") + "no labels";
  return s;
}

SpectrogramCheck check_spectrogram_file(const std::string& path) {
  SpectrogramReader r(path);
  SpectrogramCheck c;
  c.path = path;
  c.clips = r.size();
  c.num_classes = r.num_classes();
  const FrontEndConfig& fe = r.front_end();
  const int64_t MT = int64_t(fe.n_mels) * fe.frames();
  {
    std::ostringstream os;
    os << c.clips << " clips of " << fe.n_mels << " x " << fe.frames() << (r.float32() ? " float32" : " float16")
       << ", " << c.num_classes << " classes, front end: " << fe.describe();
    c.describe = os.str();
  }
  c.positives.assign(size_t(c.num_classes), 0);
  std::unique_ptr<EVP_MD_CTX, DigestCloser> sha(EVP_MD_CTX_new());
  ENGINE_CHECK(sha && EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) == 1, "SHA-256 init failed");
  std::unordered_multimap<uint64_t, int64_t> seen;  // content key -> clip
  std::vector<float> x(static_cast<size_t>(MT)), other(static_cast<size_t>(MT));
  std::vector<uint8_t> y(static_cast<size_t>(c.num_classes)), other_y(static_cast<size_t>(c.num_classes));
  c.labels_min = c.num_classes;
  for (int64_t i = 0; i < c.clips; ++i) {
    std::string problem;
    r.read(i, x.data(), y.data(), &problem);
    const std::string name = r.name(i);
    const uint64_t n = name.size();
    EVP_DigestUpdate(sha.get(), &n, sizeof n);
    EVP_DigestUpdate(sha.get(), name.data(), name.size());
    EVP_DigestUpdate(sha.get(), y.data(), y.size());
    EVP_DigestUpdate(sha.get(), x.data(), x.size() * sizeof(float));
    const ClipFaults f = clip_faults(x.data(), MT, y.data(), c.num_classes, fe, std::move(problem));
    if (!f.non_finite.empty()) c.non_finite.push_back({i, name, f.non_finite});
    if (f.silent) c.silent.push_back({i, name, "silent"});
    if (f.unlabelled) c.unlabelled.push_back({i, name, "no labels"});
    const int64_t count = std::accumulate(y.begin(), y.end(), int64_t(0));
    c.labels_total += count;
    c.labels_min = std::min(c.labels_min, count);
    c.labels_max = std::max(c.labels_max, count);
    for (int k = 0; k < c.num_classes; ++k) c.positives[size_t(k)] += y[size_t(k)] ? 1 : 0;
    const uint64_t key = fnv1a(y.data(), y.size(), fnv1a(x.data(), x.size() * sizeof(float)));
    auto range = seen.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      std::string ignored;
      r.read(it->second, other.data(), other_y.data(), &ignored);
      if (std::memcmp(other.data(), x.data(), x.size() * sizeof(float)) == 0 && other_y == y) {
        c.duplicates.push_back({i, name, "duplicate of clip " + std::to_string(it->second) + " (" + r.name(it->second) + ")"});
        break;
      }
    }
    seen.emplace(key, i);
  }
  if (c.clips == 0) c.labels_min = 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ENGINE_CHECK(EVP_DigestFinal_ex(sha.get(), digest, &len) == 1, "SHA-256 final failed");
  static const char* hex = "0123456789abcdef";
  for (unsigned int k = 0; k < len; ++k) c.sha256 += {hex[digest[k] >> 4], hex[digest[k] & 15]};
  return c;
}

std::string SpectrogramCheck::report() const {
  std::ostringstream os;
  os << path << ": " << describe << "\n";
  os << "content sha256: " << sha256 << " (clip names, labels and log-mels in file order)\n";
  const int64_t present = std::count_if(positives.begin(), positives.end(), [](int64_t p) { return p > 0; });
  char buf[160];
  std::snprintf(buf, sizeof buf, "labels: %.2f per clip (min %lld, max %lld); %lld of %d classes present",
                clips ? double(labels_total) / double(clips) : 0.0, (long long)labels_min, (long long)labels_max,
                (long long)present, num_classes);
  os << buf << "\n";
  std::vector<int> order(positives.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return positives[size_t(a)] > positives[size_t(b)]; });
  os << "most frequent:";
  const ClassLabels* names = num_classes == 527 ? &audioset_class_labels() : nullptr;
  for (size_t k = 0; k < std::min<size_t>(5, order.size()) && positives[size_t(order[k])] > 0; ++k)
    os << (k ? ", " : " ") << (names ? names->names[size_t(order[k])] : "class " + std::to_string(order[k])) << " ("
       << positives[size_t(order[k])] << ")";
  os << "\n";
  os << "problems: " << non_finite.size() << " non-finite, " << silent.size() << " silent, " << unlabelled.size()
     << " without labels, " << duplicates.size() << " duplicates\n";
  for (const auto* list : {&non_finite, &silent, &unlabelled, &duplicates})
    for (const ClipProblem& p : *list) os << "  clip " << p.index << " (" << p.name << "): " << p.what << "\n";
  return os.str();
}

}  // namespace engine::data
