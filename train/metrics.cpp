#include "train/metrics.h"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>

#include "engine/check.h"
#include "engine/atomic_file.h"

namespace engine::train {

namespace {

// AP and AUC of one class from its (score, truth) column.
ClassMetrics class_metrics(std::vector<std::pair<float, bool>>& col) {
  ClassMetrics r;
  const int64_t n = int64_t(col.size());
  for (const auto& e : col) r.positives += e.second;
  r.present = r.positives > 0 && r.positives < n;
  if (!r.present) return r;
  std::sort(col.begin(), col.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  const double P = double(r.positives), Q = double(n - r.positives);
  double tp = 0, fp = 0, prev_tp = 0, prev_fp = 0, ap = 0, area = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    for (; j < n && col[size_t(j)].first == col[size_t(i)].first; ++j) (col[size_t(j)].second ? tp : fp) += 1;
    ap += (tp - prev_tp) / P * (tp / (tp + fp));
    area += (fp - prev_fp) * (tp + prev_tp) / 2;
    prev_tp = tp, prev_fp = fp, i = j;
  }
  r.ap = ap;
  r.auc = area / (P * Q);
  return r;
}

}  // namespace

double d_prime(double auc) {
  if (auc >= 1) return std::numeric_limits<double>::infinity();
  if (auc <= 0) return -std::numeric_limits<double>::infinity();
  return std::sqrt(2.0) * boost::math::quantile(boost::math::normal(), auc);
}

TaggingMetrics tagging_metrics(const std::vector<float>& scores, const std::vector<float>& targets, int64_t n, int k) {
  ENGINE_CHECK(int64_t(scores.size()) == n * k && int64_t(targets.size()) == n * k, "metrics: ", scores.size(),
               " scores and ", targets.size(), " targets for ", n, " clips x ", k, " classes");
  TaggingMetrics m;
  m.clips = n;
  m.per_class.resize(size_t(k));
#pragma omp parallel for schedule(dynamic)
  for (int c = 0; c < k; ++c) {
    std::vector<std::pair<float, bool>> col(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const float s = scores[size_t(i * k + c)];
      ENGINE_CHECK(!std::isnan(s), "metrics: NaN score for clip ", i, " class ", c);
      col[size_t(i)] = {s, targets[size_t(i * k + c)] > 0.5f};
    }
    m.per_class[size_t(c)] = class_metrics(col);
  }
  double dsum = 0;
  for (const ClassMetrics& c : m.per_class) {
    if (!c.present) continue;
    ++m.present;
    m.map += c.ap;
    m.mauc += c.auc;
    dsum += d_prime(c.auc);
  }
  if (m.present > 0) {
    m.map /= m.present;
    m.mauc /= m.present;
    m.dprime_mean_of_classes = dsum / m.present;
    m.dprime_of_mean_auc = d_prime(m.mauc);
  }
  return m;
}

void write_per_class_csv(const std::string& path, const TaggingMetrics& m, const std::vector<std::string>& mids,
                         const std::vector<std::string>& names) {
  ENGINE_CHECK(mids.size() == m.per_class.size() && names.size() == m.per_class.size(), "per-class CSV: ",
               m.per_class.size(), " classes, ", mids.size(), " mids, ", names.size(), " names");
  std::string out = "index,mid,display_name,positives,ap,auc\n";
  char buf[64];
  for (size_t c = 0; c < m.per_class.size(); ++c) {
    const ClassMetrics& r = m.per_class[c];
    std::string name = names[c];
    if (name.find_first_of(",\"") != std::string::npos) {  // CSV quoting, as class_labels_indices.csv does
      std::string q = "\"";
      for (char ch : name) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      name = q + "\"";
    }
    out += std::to_string(c) + "," + mids[c] + "," + name + "," + std::to_string(r.positives) + ",";
    if (r.present) {
      std::snprintf(buf, sizeof buf, "%.6f,%.6f", r.ap, r.auc);
      out += buf;
    } else {
      out += ",";
    }
    out += "\n";
  }
  write_file_atomic(path, out);
}

}  // namespace engine::train
