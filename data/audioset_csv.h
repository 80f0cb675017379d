// AudioSet metadata and clip lists: class_labels_indices.csv, the official segment CSVs, and user manifests
// (CSV, JSONL, AST-style JSON datafiles). Every parse error is a UserError naming "<file>:<line>".
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace engine::data {

// The 527 AudioSet classes (index,mid,display_name) in the canonical order of the 527-d target.
struct ClassLabels {
  std::string path;                        // the file they came from (for error messages)
  std::vector<std::string> mids, names;    // by class index
  std::unordered_map<std::string, int> by_mid, by_name_lower;

  int size() const { return int(mids.size()); }
  // A MID ("/m/09x0r") or a display name ("Speech", case-insensitive) -> class index; -1 when unknown.
  int find(const std::string& label) const;
  // A list of labels separated by ',' or ';'. Display names may contain ", " themselves ("Male speech, man
  // speaking"): pieces are re-joined greedily, longest known name first (no AudioSet name is ambiguous this way).
  // Throws UserError "<where>: unknown label '<x>'" naming the first label that resolves to nothing.
  std::vector<int> parse_list(const std::string& text, const std::string& where) const;
};
ClassLabels read_class_labels(const std::string& path);
// AudioSet's class_labels_indices.csv as shipped in data/, built into the binaries (works from any folder).
const ClassLabels& audioset_class_labels();

// One row of an official segment CSV: `YTID, start_seconds, end_seconds, "mid1,mid2"`.
struct Segment {
  std::string ytid;
  double start = 0, end = 0;
  std::vector<int> labels;  // class indices
  int line = 0;             // 1-based line in the CSV
};
struct SegmentList {
  std::vector<Segment> segments;
  int64_t header_segments = -1, header_labels = -1;  // num_segs / num_positive_labels from the comment header
  int64_t num_labels() const;                         // positive labels over all segments
};
// Lines starting with '#' are comments; YTIDs must be unique.
SegmentList read_segments_csv(const std::string& path, const ClassLabels& classes);

// One clip of a manifest: an audio file and its labels.
struct ManifestEntry {
  std::string path;         // as written in the manifest
  std::string name;         // clip name in the output: the "name" field, else the path as written
  std::vector<int> labels;  // class indices
  int line = 0;             // 1-based line (CSV/JSONL) or entry number (JSON datafile)
};
// Format by extension: ".jsonl" -> one JSON object per line {"path"|"wav", "labels", "name"?};
// ".json" -> AST datafile {"data": [{"wav", "labels"}, ...]}; anything else -> CSV. A CSV without a header
// has rows path,label[,label...] (every field after the path is a label); a CSV with a header row (a first row
// with a field "path") has the columns it names: path, labels and optionally name, in any order, others
// ignored, and every row as many fields as the header. Labels are MIDs and/or display names (see
// ClassLabels::parse_list; in JSON also an array of them). '#' starts a comment line. Clip names must be unique.
std::vector<ManifestEntry> read_manifest(const std::string& path, const ClassLabels& classes);

// RFC 4180 fields of one CSV line: commas separate, double quotes group ("" is a quote), blanks around fields
// are trimmed. Throws UserError "<where>: <why>" on an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line, const std::string& where);

}  // namespace engine::data
