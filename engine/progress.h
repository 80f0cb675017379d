// Progress of long jobs on stderr (engine_prep, engine_tag, the trainer's ETA).
#pragma once
#include <chrono>
#include <string>

namespace engine {

// "4m07s", "2h13m"
std::string format_duration(double seconds);

// One progress line: rewritten in place on a terminal (at most every 0.25 s), printed as a new line every
// `log_interval_s` otherwise (logs). Disabled: prints nothing.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled, double log_interval_s = 30.0);
  double elapsed() const;        // seconds since construction
  bool due(bool final) const;    // whether update() would print now
  // Prints `text` when due (always when final; a terminal line is then ended).
  void update(const std::string& text, bool final);

 private:
  using clock = std::chrono::steady_clock;
  bool enabled_, tty_;
  double interval_;
  clock::time_point start_ = clock::now();
  double last_ = 0;  // the first line after one interval: short jobs print only their summary
};

}  // namespace engine
