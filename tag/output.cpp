// engine_tag's output formats; see output.h.
#include "tag/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "engine/check.h"

namespace engine::tag {

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// 7 significant digits: all a float holds, so that rankings survive the output.
std::string significant(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", v);
  return buf;
}

// A float as the JSON number of its 7 significant digits (what a float holds), not of its binary expansion.
double json_float(double v) { return std::strtod(significant(v).c_str(), nullptr); }

// Times in milliseconds' precision.
double json_time(double s) { return std::round(s * 1e3) / 1e3; }

}  // namespace

Format parse_format(const std::string& name) {
  if (name == "text") return Format::text;
  if (name == "json") return Format::json;
  if (name == "csv") return Format::csv;
  user_error("--format ", name, ": expected text, json or csv");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

TagWriter::TagWriter(OutputOptions opt, WindowPlan plan, std::vector<std::string> mids, std::vector<std::string> names,
                     std::function<void(const std::string&)> sink)
    : opt_(std::move(opt)), plan_(plan), mids_(std::move(mids)), names_(std::move(names)), sink_(std::move(sink)) {}

void TagWriter::begin() {
  if (opt_.format == Format::csv) sink_("file,kind,start_s,end_s,rank,index,mid,display_name,score,error\n");
}

std::vector<TagWriter::Label> TagWriter::select(const float* scores) const {
  std::vector<Label> all;
  for (int c : opt_.classes)
    if (!opt_.use_threshold || scores[c] >= opt_.threshold) all.push_back({c, scores[c]});
  std::stable_sort(all.begin(), all.end(), [](const Label& a, const Label& b) { return a.score > b.score; });
  if (!opt_.use_threshold && int(all.size()) > opt_.top_k) all.resize(size_t(opt_.top_k));
  return all;
}

void TagWriter::write(const FileTags& t) {
  const int K = int(names_.size());
  std::vector<float> clip;
  if (t.error.empty()) clip = pool_windows(t.scores, t.windows, K, opt_.pooling);
  switch (opt_.format) {
    case Format::text: write_text(t, clip); break;
    case Format::json: write_json(t, clip); break;
    case Format::csv: write_csv(t, clip); break;
  }
}

void TagWriter::write_text(const FileTags& t, const std::vector<float>& clip) {
  if (!t.error.empty()) {
    sink_(t.path + "  error: " + t.error + "\n");
    return;
  }
  const int K = int(names_.size());
  std::string s = t.path + "  " + fixed(t.duration_s, 1) + " s";
  if (t.windows > 1)
    s += ", " + std::to_string(t.windows) + " windows (hop " + fixed(double(plan_.hop) / plan_.rate, 1) + " s), " +
         (opt_.pooling == Pooling::max ? "max" : "mean") + " over windows";
  s += "\n";
  for (const Label& l : select(clip.data())) s += "  " + fixed(l.score, 3) + "  " + names_[size_t(l.cls)] + "\n";
  if (opt_.windows)
    for (int64_t w = 0; w < t.windows; ++w) {
      s += "  [" + fixed(plan_.start_s(w), 1) + "-" + fixed(plan_.end_s(w, t.samples), 1) + " s]";
      const char* sep = " ";
      for (const Label& l : select(t.scores.data() + w * K)) {
        s += sep + names_[size_t(l.cls)] + " " + fixed(l.score, 3);
        sep = ", ";
      }
      s += "\n";
    }
  if (opt_.segments) {
    const auto segs = merge_segments(t.scores, plan_, t.samples, K, opt_.classes, opt_.threshold);
    s += "  segments (score >= " + fixed(opt_.threshold, 2) + "):" + (segs.empty() ? " none" : "") + "\n";
    for (const Segment& g : segs)
      s += "    " + fixed(g.start_s, 1) + "-" + fixed(g.end_s, 1) + " s  " + names_[size_t(g.cls)] + "  (peak " +
           fixed(g.peak, 3) + ")\n";
  }
  sink_(s);
}

void TagWriter::write_json(const FileTags& t, const std::vector<float>& clip) {
  nlohmann::json j;
  j["file"] = t.path;
  if (!t.error.empty()) {
    j["error"] = t.error;
    sink_(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return;
  }
  const int K = int(names_.size());
  auto labels = [&](const float* scores) {
    nlohmann::json a = nlohmann::json::array();
    for (const Label& l : select(scores))
      a.push_back({{"index", l.cls}, {"mid", mids_[size_t(l.cls)]}, {"name", names_[size_t(l.cls)]},
                   {"score", json_float(l.score)}});
    return a;
  };
  j["duration_s"] = json_time(t.duration_s);
  j["sample_rate"] = t.sample_rate;
  j["channels"] = t.channels;
  j["windows"] = t.windows;
  j["pool"] = opt_.pooling == Pooling::max ? "max" : "mean";
  j["labels"] = labels(clip.data());
  if (opt_.windows) {
    nlohmann::json ws = nlohmann::json::array();
    for (int64_t w = 0; w < t.windows; ++w)
      ws.push_back({{"start_s", json_time(plan_.start_s(w))}, {"end_s", json_time(plan_.end_s(w, t.samples))},
                    {"labels", labels(t.scores.data() + w * K)}});
    j["window_labels"] = ws;
  }
  if (opt_.segments) {
    nlohmann::json gs = nlohmann::json::array();
    for (const Segment& g : merge_segments(t.scores, plan_, t.samples, K, opt_.classes, opt_.threshold))
      gs.push_back({{"start_s", json_time(g.start_s)}, {"end_s", json_time(g.end_s)}, {"index", g.cls},
                    {"mid", mids_[size_t(g.cls)]}, {"name", names_[size_t(g.cls)]}, {"peak", json_float(g.peak)}});
    j["segments"] = gs;
  }
  sink_(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void TagWriter::write_csv(const FileTags& t, const std::vector<float>& clip) {
  const std::string file = csv_field(t.path);
  if (!t.error.empty()) {
    sink_(file + ",error,,,,,,,," + csv_field(t.error) + "\n");
    return;
  }
  const int K = int(names_.size());
  std::string s;
  auto rows = [&](const char* kind, double start, double end, const float* scores) {
    int rank = 0;
    for (const Label& l : select(scores))
      s += file + "," + kind + "," + fixed(start, 3) + "," + fixed(end, 3) + "," + std::to_string(++rank) + "," +
           std::to_string(l.cls) + "," + csv_field(mids_[size_t(l.cls)]) + "," + csv_field(names_[size_t(l.cls)]) +
           "," + significant(l.score) + ",\n";
  };
  rows("clip", 0.0, t.duration_s, clip.data());
  if (opt_.windows)
    for (int64_t w = 0; w < t.windows; ++w) rows("window", plan_.start_s(w), plan_.end_s(w, t.samples), t.scores.data() + w * K);
  if (opt_.segments)
    for (const Segment& g : merge_segments(t.scores, plan_, t.samples, K, opt_.classes, opt_.threshold))
      s += file + ",segment," + fixed(g.start_s, 3) + "," + fixed(g.end_s, 3) + ",," + std::to_string(g.cls) + "," +
           csv_field(mids_[size_t(g.cls)]) + "," + csv_field(names_[size_t(g.cls)]) + "," + significant(g.peak) + ",\n";
  sink_(s);
}

}  // namespace engine::tag
