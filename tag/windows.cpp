// Windows, pooling and segments of a recording's scores; see windows.h.
#include "tag/windows.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace engine::tag {

int64_t WindowPlan::count(int64_t total_samples) const {
  if (total_samples <= window) return 1;
  return 1 + (total_samples - window + hop - 1) / hop;
}

double WindowPlan::end_s(int64_t k, int64_t total_samples) const {
  return double(std::min(start(k) + window, std::max<int64_t>(total_samples, 0))) / rate;
}

WindowPlan make_window_plan(int window_samples, double hop_seconds, int rate) {
  WindowPlan p;
  p.window = window_samples;
  p.rate = rate;
  const double window_s = double(window_samples) / rate;
  USER_CHECK(std::isfinite(hop_seconds) && hop_seconds > 0 && hop_seconds <= window_s + 1e-9, "--hop ", hop_seconds,
             ": expected seconds in (0, ", window_s, "], the window length");
  p.hop = std::clamp<int64_t>(std::llround(hop_seconds * rate), 1, p.window);
  return p;
}

Pooling parse_pooling(const std::string& name) {
  if (name == "max") return Pooling::max;
  if (name == "mean") return Pooling::mean;
  user_error("--pool ", name, ": expected max or mean");
}

std::vector<float> pool_windows(const std::vector<float>& scores, int64_t windows, int K, Pooling pooling) {
  ENGINE_CHECK(windows > 0 && int64_t(scores.size()) == windows * K, "pool_windows: ", scores.size(), " scores for ",
               windows, " x ", K);
  std::vector<double> acc(size_t(K), pooling == Pooling::max ? -INFINITY : 0.0);
  for (int64_t w = 0; w < windows; ++w)
    for (int c = 0; c < K; ++c) {
      const double v = scores[size_t(w * K + c)];
      acc[size_t(c)] = pooling == Pooling::max ? std::max(acc[size_t(c)], v) : acc[size_t(c)] + v;
    }
  std::vector<float> out(static_cast<size_t>(K));
  for (int c = 0; c < K; ++c)
    out[size_t(c)] = float(pooling == Pooling::max ? acc[size_t(c)] : acc[size_t(c)] / double(windows));
  return out;
}

std::vector<Segment> merge_segments(const std::vector<float>& scores, const WindowPlan& plan, int64_t total_samples,
                                    int K, const std::vector<int>& classes, float threshold) {
  const int64_t windows = int64_t(scores.size()) / K;
  std::vector<Segment> out;
  for (int c : classes) {
    int64_t first = -1;
    float peak = 0;
    for (int64_t w = 0; w <= windows; ++w) {
      const bool above = w < windows && scores[size_t(w * K + c)] >= threshold;
      if (above) {
        if (first < 0) first = w, peak = scores[size_t(w * K + c)];
        peak = std::max(peak, scores[size_t(w * K + c)]);
      } else if (first >= 0) {
        out.push_back({c, plan.start_s(first), plan.end_s(w - 1, total_samples), peak});
        first = -1;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Segment& a, const Segment& b) { return a.start_s < b.start_s; });
  return out;
}

}  // namespace engine::tag
