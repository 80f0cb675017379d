// What engine_tag prints per file, in three formats:
//   text  a block per file: the path, duration and window count, then "score  label" lines; with windows,
//         one line per window; with segments, one line per merged segment; a failed file: "error: ...".
//   json  JSON Lines, one object per file:
//         {"file", "duration_s", "sample_rate", "channels", "windows", "pool",
//          "labels": [{"index", "mid", "name", "score"}],
//          "window_labels": [{"start_s", "end_s", "labels": [...]}]                (with windows),
//          "segments": [{"start_s", "end_s", "index", "mid", "name", "peak"}]}    (with segments)
//         or {"file", "error"} for a file that failed.
//   Scores in JSON and CSV have 7 significant digits (all a float holds), times millisecond precision.
//   csv   one header, then a row per label: file,kind,start_s,end_s,rank,index,mid,display_name,score,error
//         with kind clip (the pooled scores over the whole file), window, segment (score = peak) or error.
// Labels are the top k by score, or every label at or above a threshold, among the allowed classes.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tag/tagger.h"
#include "tag/windows.h"

namespace engine::tag {

enum class Format { text, json, csv };
Format parse_format(const std::string& name);  // UserError naming --format

struct OutputOptions {
  Format format = Format::text;
  int top_k = 5;
  bool use_threshold = false;     // labels at or above threshold instead of the top k
  float threshold = 0.5f;         // also the segments' threshold
  Pooling pooling = Pooling::max;
  bool windows = false;           // per-window labels
  bool segments = false;          // merged segments
  std::vector<int> classes;       // the allowed classes, in index order
};

class TagWriter {
 public:
  // `sink` receives the text; names/mids: the class table (K).
  TagWriter(OutputOptions opt, WindowPlan plan, std::vector<std::string> mids, std::vector<std::string> names,
            std::function<void(const std::string&)> sink);
  void begin();                    // the CSV header
  void write(const FileTags& t);

 private:
  struct Label {
    int cls;
    float score;
  };
  std::vector<Label> select(const float* scores) const;  // (K) -> the labels to print, best first
  void write_text(const FileTags& t, const std::vector<float>& clip);
  void write_json(const FileTags& t, const std::vector<float>& clip);
  void write_csv(const FileTags& t, const std::vector<float>& clip);

  OutputOptions opt_;
  WindowPlan plan_;
  std::vector<std::string> mids_, names_;
  std::function<void(const std::string&)> sink_;
};

// RFC 4180 field: quoted (with "" for ") when it holds a comma, quote or line break.
std::string csv_field(const std::string& s);

}  // namespace engine::tag
