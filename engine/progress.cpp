// Progress lines and durations; see progress.h.
#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace engine {

std::string format_duration(double seconds) {
  char buf[32];
  const long t = long(seconds + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

ProgressLine::ProgressLine(bool enabled, double log_interval_s)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO)), interval_(log_interval_s) {}

double ProgressLine::elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

bool ProgressLine::due(bool final) const {
  return enabled_ && (final || elapsed() - last_ >= (tty_ ? 0.25 : interval_));
}

void ProgressLine::update(const std::string& text, bool final) {
  if (!due(final)) return;
  last_ = elapsed();
  std::fprintf(stderr, "%s%s%s", tty_ ? "\r" : "", text.c_str(), tty_ ? "\033[K" : "\n");
  if (tty_ && final) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace engine
