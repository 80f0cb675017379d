// Where a tagger looks in a recording and what it makes of the windows' scores:
//   windows:  the model's input length W (10 s), starting at 0, H, 2H, ... (hop H <= W). A recording of S
//             samples has 1 window when S <= W, else 1 + ceil((S - W) / H); the last one may run past the
//             end and is zero-padded, as training pads short clips (PadOrTruncate).
//   pooling:  the clip's score of a class is the max (default) or the mean of its window scores.
//   segments: per class, consecutive windows scoring >= threshold merge into one segment from the first
//             window's start to the last one's end (clamped to the recording), with the peak score.
// Times are in seconds of the recording; a window's end is min(start + W, S) / rate.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace engine::tag {

struct WindowPlan {
  int64_t window = 0;  // W samples
  int64_t hop = 0;     // H samples, 0 < H <= W
  int rate = 0;        // samples per second

  int64_t count(int64_t total_samples) const;  // windows of a recording of that many samples (>= 1)
  int64_t start(int64_t k) const { return k * hop; }
  double start_s(int64_t k) const { return double(start(k)) / rate; }
  double end_s(int64_t k, int64_t total_samples) const;
};

// UserError naming --hop for a hop that is not in (0, window].
WindowPlan make_window_plan(int window_samples, double hop_seconds, int rate);

enum class Pooling { max, mean };
Pooling parse_pooling(const std::string& name);  // "max" | "mean", UserError naming --pool otherwise

// scores (N windows, K) row-major -> (K)
std::vector<float> pool_windows(const std::vector<float>& scores, int64_t windows, int K, Pooling pooling);

struct Segment {
  int cls = 0;
  double start_s = 0, end_s = 0;
  float peak = 0;
};
// Segments of the classes in `classes`, by start time (ties in the order of `classes`).
std::vector<Segment> merge_segments(const std::vector<float>& scores, const WindowPlan& plan, int64_t total_samples,
                                    int K, const std::vector<int>& classes, float threshold);

}  // namespace engine::tag
