#include "data/audioset_csv.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "engine/check.h"

namespace engine::data {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower((unsigned char)c));
  return s;
}

// All lines of a text file, without their line terminators (LF or CRLF).
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  USER_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string where(const std::string& path, int line) { return path + ":" + std::to_string(line); }

bool is_blank_or_comment(const std::string& line) {
  std::string t = trim(line);
  return t.empty() || t[0] == '#';
}

double parse_seconds(const std::string& field, const std::string& at) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(field, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  USER_CHECK(used > 0 && used == field.size(), at, ": expected a time in seconds, got '", field, "'");
  return v;
}

void require_unique(std::unordered_map<std::string, int>& seen, const std::string& name, const std::string& file,
                    int line, const char* what) {
  auto [it, inserted] = seen.emplace(name, line);
  USER_CHECK(inserted, where(file, line), ": duplicate ", what, " '", name, "' (first on line ", it->second, ")");
}

}  // namespace

std::vector<std::string> split_csv_line(const std::string& line, const std::string& at) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c != '"') {
        cur += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"' && trim(cur).empty()) {
      cur.clear();  // blanks before an opening quote belong to the separator (", " in AudioSet CSVs)
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(was_quoted ? cur : trim(cur));
      cur.clear();
      was_quoted = false;
    } else if (!(was_quoted && std::isspace((unsigned char)c))) {
      cur += c;
    }
  }
  USER_CHECK(!quoted, at, ": unterminated quoted field");
  fields.push_back(was_quoted ? cur : trim(cur));
  return fields;
}

int ClassLabels::find(const std::string& label) const {
  auto m = by_mid.find(label);
  if (m != by_mid.end()) return m->second;
  auto n = by_name_lower.find(lower(label));
  return n == by_name_lower.end() ? -1 : n->second;
}

std::vector<int> ClassLabels::parse_list(const std::string& text, const std::string& at) const {
  // pieces between separators; a display name with commas spans several consecutive pieces
  std::vector<std::string> pieces;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ';') {
      pieces.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  pieces.push_back(trim(cur));
  std::vector<int> out;
  size_t i = 0;
  while (i < pieces.size()) {
    if (pieces[i].empty()) {  // "a,,b", a trailing comma or an empty list
      ++i;
      continue;
    }
    int found = -1;
    size_t span = 0;
    std::string joined;
    for (size_t j = i; j < pieces.size(); ++j) {  // the longest run of pieces that names a class wins
      joined += (j == i ? "" : ", ") + pieces[j];
      int k = find(joined);
      if (k >= 0) found = k, span = j - i + 1;
    }
    USER_CHECK(found >= 0, at, ": unknown label '", pieces[i], "' (neither a MID nor a display name in ", path, ")");
    if (std::find(out.begin(), out.end(), found) == out.end()) out.push_back(found);
    i += span;
  }
  return out;
}

namespace {
ClassLabels parse_class_labels(const std::vector<std::string>& lines, const std::string& path) {
  ClassLabels cl;
  cl.path = path;
  USER_CHECK(!lines.empty() && lower(trim(lines[0])) == "index,mid,display_name", path,
             ": expected the header 'index,mid,display_name' (AudioSet class_labels_indices.csv)");
  for (size_t i = 1; i < lines.size(); ++i) {
    if (trim(lines[i]).empty()) continue;
    std::string at = where(path, int(i + 1));
    std::vector<std::string> f = split_csv_line(lines[i], at);
    USER_CHECK(f.size() == 3, at, ": expected 3 fields index,mid,display_name, got ", f.size());
    USER_CHECK(f[0] == std::to_string(cl.size()), at, ": expected index ", cl.size(), ", got '", f[0], "'");
    USER_CHECK(!f[1].empty() && !f[2].empty(), at, ": empty mid or display_name");
    USER_CHECK(cl.by_mid.emplace(f[1], cl.size()).second, at, ": duplicate mid '", f[1], "'");
    USER_CHECK(cl.by_name_lower.emplace(lower(f[2]), cl.size()).second, at, ": duplicate display_name '", f[2], "'");
    cl.mids.push_back(f[1]);
    cl.names.push_back(f[2]);
  }
  USER_CHECK(cl.size() > 0, path, ": no classes");
  return cl;
}
}  // namespace

ClassLabels read_class_labels(const std::string& path) { return parse_class_labels(read_lines(path), path); }

const ClassLabels& audioset_class_labels() {
  static const ClassLabels labels = [] {
    static const char* const csv =
#include "class_labels_indices.inc"
        ;
    std::vector<std::string> lines;
    std::stringstream in(csv);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
    return parse_class_labels(lines, "class_labels_indices.csv (built in)");
  }();
  return labels;
}

int64_t SegmentList::num_labels() const {
  int64_t n = 0;
  for (const Segment& s : segments) n += int64_t(s.labels.size());
  return n;
}

SegmentList read_segments_csv(const std::string& path, const ClassLabels& classes) {
  std::vector<std::string> lines = read_lines(path);
  SegmentList out;
  std::unordered_map<std::string, int> seen;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    int lineno = int(i + 1);
    if (is_blank_or_comment(line)) {
      // "# num_ytids=22160, num_segs=22160, num_unique_labels=527, num_positive_labels=52882"
      long long segs = 0, labels = 0;
      const char* s = std::strstr(line.c_str(), "num_segs=");
      const char* l = std::strstr(line.c_str(), "num_positive_labels=");
      if (s && std::sscanf(s, "num_segs=%lld", &segs) == 1) out.header_segments = segs;
      if (l && std::sscanf(l, "num_positive_labels=%lld", &labels) == 1) out.header_labels = labels;
      continue;
    }
    std::string at = where(path, lineno);
    std::vector<std::string> f = split_csv_line(line, at);
    USER_CHECK(f.size() == 4, at, ": expected 4 fields YTID, start_seconds, end_seconds, \"labels\", got ", f.size());
    USER_CHECK(!f[0].empty(), at, ": empty YTID");
    Segment seg;
    seg.ytid = f[0];
    seg.start = parse_seconds(f[1], at);
    seg.end = parse_seconds(f[2], at);
    seg.labels = classes.parse_list(f[3], at);
    seg.line = lineno;
    require_unique(seen, seg.ytid, path, lineno, "YTID");
    out.segments.push_back(std::move(seg));
  }
  return out;
}

namespace {

// "labels" of a JSON entry: an array of MIDs/names, or one string list like the CSV field.
std::vector<int> json_labels(const nlohmann::json& v, const ClassLabels& classes, const std::string& at) {
  if (v.is_string()) return classes.parse_list(v.get<std::string>(), at);
  USER_CHECK(v.is_array(), at, ": \"labels\" must be a string or an array of strings");
  std::vector<int> out;
  for (const auto& item : v) {
    USER_CHECK(item.is_string(), at, ": \"labels\" must be a string or an array of strings");
    int k = classes.find(item.get<std::string>());
    USER_CHECK(k >= 0, at, ": unknown label '", item.get<std::string>(), "' (neither a MID nor a display name in ",
               classes.path, ")");
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

ManifestEntry json_entry(const nlohmann::json& obj, const ClassLabels& classes, const std::string& at, int line) {
  USER_CHECK(obj.is_object(), at, ": expected a JSON object");
  const char* path_key = obj.contains("path") ? "path" : "wav";
  USER_CHECK(obj.contains(path_key) && obj[path_key].is_string(), at, ": missing string field \"path\" (or \"wav\")");
  USER_CHECK(obj.contains("labels"), at, ": missing field \"labels\"");
  ManifestEntry e;
  e.path = obj[path_key].get<std::string>();
  USER_CHECK(!e.path.empty(), at, ": empty path");
  e.name = e.path;
  if (obj.contains("name")) {
    USER_CHECK(obj["name"].is_string() && !obj["name"].get<std::string>().empty(), at,
               ": \"name\" must be a non-empty string");
    e.name = obj["name"].get<std::string>();
  }
  e.labels = json_labels(obj["labels"], classes, at);
  e.line = line;
  return e;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

}  // namespace

std::vector<ManifestEntry> read_manifest(const std::string& path, const ClassLabels& classes) {
  std::vector<ManifestEntry> out;
  if (ends_with(path, ".json")) {  // AST datafile: one JSON document
    std::ifstream in(path, std::ios::binary);
    USER_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    USER_CHECK(!doc.is_discarded(), path, ": not valid JSON (an AST datafile {\"data\": [...]} was expected; use "
               "the .jsonl extension for one object per line)");
    USER_CHECK(doc.is_object() && doc.contains("data") && doc["data"].is_array(), path,
               ": expected an AST datafile {\"data\": [{\"wav\": ..., \"labels\": ...}, ...]}");
    int n = 0;
    for (const auto& obj : doc["data"]) {
      ++n;
      out.push_back(json_entry(obj, classes, path + ": entry " + std::to_string(n), n));
    }
  } else {
    std::vector<std::string> lines = read_lines(path);
    bool jsonl = ends_with(path, ".jsonl");
    int path_col = 0, labels_col = 1, name_col = -1;
    size_t header_fields = 0;  // 0: no header row
    bool first = !jsonl;
    for (size_t i = 0; i < lines.size(); ++i) {
      int lineno = int(i + 1);
      if (is_blank_or_comment(lines[i])) continue;
      std::string at = where(path, lineno);
      if (jsonl) {
        nlohmann::json obj = nlohmann::json::parse(lines[i], nullptr, false);
        USER_CHECK(!obj.is_discarded(), at, ": not valid JSON");
        out.push_back(json_entry(obj, classes, at, lineno));
        continue;
      }
      std::vector<std::string> f = split_csv_line(lines[i], at);
      if (first) {
        first = false;
        auto column = [&](const char* title) {
          for (size_t c = 0; c < f.size(); ++c)
            if (lower(f[c]) == title) return int(c);
          return -1;
        };
        if (column("path") >= 0) {
          path_col = column("path");
          labels_col = column("labels");
          name_col = column("name");
          header_fields = f.size();
          USER_CHECK(labels_col >= 0, at, ": the header has no 'labels' column");
          continue;
        }
      }
      if (header_fields > 0) {
        // a stray comma (an unquoted list of labels) must not silently drop labels into another column
        USER_CHECK(f.size() == header_fields, at, ": expected ", header_fields, " fields as in the header, got ",
                   f.size(), " (quote a labels list that contains commas, or separate labels with ';')");
      } else {
        USER_CHECK(f.size() >= 2, at, ": expected path,labels..., got ", f.size(), " field");
        for (size_t c = 2; c < f.size(); ++c) f[1] += "," + f[c];  // no header: every field after the path is a label
      }
      ManifestEntry e;
      e.path = f[path_col];
      USER_CHECK(!e.path.empty(), at, ": empty path");
      e.name = name_col >= 0 && !f[name_col].empty() ? f[name_col] : e.path;
      e.labels = classes.parse_list(f[labels_col], at);
      e.line = lineno;
      out.push_back(std::move(e));
    }
  }
  std::unordered_map<std::string, int> seen;
  for (const ManifestEntry& e : out) require_unique(seen, e.name, path, e.line, "clip name");
  USER_CHECK(!out.empty(), path, ": no clips");
  return out;
}

}  // namespace engine::data
