// AudioSet metadata parsing: class_labels_indices.csv, the official segment CSVs (counts from their headers and
// from Google's release notes), and manifests by display name and MID in CSV, JSONL and AST JSON form.
#include <catch2/catch.hpp>

#include "data/audioset_csv.h"
#include "engine/check.h"
#include "tests/harness/temp_dir.h"

using namespace engine;
using namespace engine::data;

static const std::string kPrepData = ENGINE_TEST_DATA_DIR "/prep";
static const std::string kLabels = ENGINE_TEST_DATA_DIR "/../../data/class_labels_indices.csv";

// Writes `text` to a file `name` in this test program's scratch space (removed when the tests end).
static std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = test::process_temp_dir("audioset_csv").file(name);
  test::write_bytes(path, text);
  return path;
}

// The message of the UserError that f throws ("" when it throws none).
template <class F>
static std::string user_error_of(F&& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("class_labels_indices.csv: 527 classes, lookup by MID and display name", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  REQUIRE(cl.size() == 527);
  CHECK(cl.mids[0] == "/m/09x0r");
  CHECK(cl.names[0] == "Speech");
  CHECK(cl.names[1] == "Male speech, man speaking");
  CHECK(cl.names[526] == "Field recording");
  CHECK(cl.find("/m/09x0r") == 0);
  CHECK(cl.find("speech") == 0);
  CHECK(cl.find("Male speech, man speaking") == 1);
  CHECK(cl.find("Male speech") == -1);
  CHECK(cl.find("/m/nope") == -1);
}

TEST_CASE("ClassLabels::parse_list mixes MIDs and names, names with commas, semicolon separators", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  CHECK(cl.parse_list("/m/09x0r,/t/dd00088", "x") == std::vector<int>{0, cl.find("/t/dd00088")});
  CHECK(cl.parse_list("Male speech, man speaking,Dog", "x") == std::vector<int>{1, cl.find("Dog")});
  CHECK(cl.parse_list("Dog; /m/09x0r ;Female speech,woman speaking", "x") == std::vector<int>{cl.find("Dog"), 0, 2});
  CHECK(cl.parse_list("Speech,speech,/m/09x0r", "x") == std::vector<int>{0});  // duplicates collapse
  CHECK(cl.parse_list("", "x").empty());
  CHECK(user_error_of([&] { cl.parse_list("Dog,Dgo", "m.csv:7"); }) ==
        "m.csv:7: unknown label 'Dgo' (neither a MID nor a display name in " + kLabels + ")");
}

TEST_CASE("official balanced_train_segments.csv: 22,160 segments, 52,882 labels", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  SegmentList s = read_segments_csv(kPrepData + "/balanced_train_segments.csv", cl);
  REQUIRE(s.segments.size() == 22160);
  CHECK(s.num_labels() == 52882);
  CHECK(s.header_segments == 22160);
  CHECK(s.header_labels == 52882);
  const Segment& first = s.segments[0];  // --PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"
  CHECK(first.ytid == "--PJHxphWEs");
  CHECK(first.start == 30.0);
  CHECK(first.end == 40.0);
  CHECK(first.labels == std::vector<int>{0, cl.find("/t/dd00088")});
  CHECK(first.line == 4);
  std::vector<int> per_class(527, 0);
  for (const Segment& seg : s.segments)
    for (int k : seg.labels) per_class[k]++;
  CHECK(*std::min_element(per_class.begin(), per_class.end()) == 59);  // every class, at least 59 clips
}

TEST_CASE("official eval_segments.csv: 20,371 segments, 51,804 labels", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  SegmentList s = read_segments_csv(kPrepData + "/eval_segments.csv", cl);
  REQUIRE(s.segments.size() == 20371);
  CHECK(s.num_labels() == 51804);
  CHECK(s.header_segments == 20371);
  CHECK(s.header_labels == 51804);
  CHECK(s.segments[0].ytid == "--4gqARaEJE");
  CHECK(s.segments[0].labels.size() == 4);
}

TEST_CASE("segment CSV errors name the file and line", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  std::string bad_mid = write_file("bad_mid.csv", "# c\n# YTID, start_seconds, end_seconds, positive_labels\n"
                                                  "abc, 0.000, 10.000, \"/m/09x0r\"\ndef, 0.000, 10.000, \"/m/zzz\"\n");
  CHECK(user_error_of([&] { read_segments_csv(bad_mid, cl); }) ==
        bad_mid + ":4: unknown label '/m/zzz' (neither a MID nor a display name in " + kLabels + ")");
  std::string fields = write_file("fields.csv", "abc, 0.000, \"/m/09x0r\"\n");
  CHECK(user_error_of([&] { read_segments_csv(fields, cl); }) ==
        fields + ":1: expected 4 fields YTID, start_seconds, end_seconds, \"labels\", got 3");
  std::string dup = write_file("dup.csv", "abc, 0.000, 10.000, \"/m/09x0r\"\nabc, 10.000, 20.000, \"/m/09x0r\"\n");
  CHECK(user_error_of([&] { read_segments_csv(dup, cl); }) == dup + ":2: duplicate YTID 'abc' (first on line 1)");
  std::string time = write_file("time.csv", "abc, 0.0s, 10.000, \"/m/09x0r\"\n");
  CHECK(user_error_of([&] { read_segments_csv(time, cl); }) ==
        time + ":1: expected a time in seconds, got '0.0s'");
  std::string quote = write_file("quote.csv", "abc, 0.000, 10.000, \"/m/09x0r\n");
  CHECK(user_error_of([&] { read_segments_csv(quote, cl); }) == quote + ":1: unterminated quoted field");
  CHECK(user_error_of([&] { read_segments_csv("/nonexistent/seg.csv", cl); }) ==
        "/nonexistent/seg.csv: cannot open (No such file or directory)");
}

TEST_CASE("manifest CSV: labels by display name and MID, optional header and name column", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  std::string plain = write_file("plain.csv", "# my clips\n"
                                              "a/dog.wav,Dog;Bark\n"
                                              "speech.flac,\"Male speech, man speaking,/m/09x0r\"\n"
                                              "\"with, comma.wav\",/m/0bt9lr\n"
                                              "unquoted.wav,Dog,Female speech, woman speaking\n");
  std::vector<ManifestEntry> m = read_manifest(plain, cl);
  REQUIRE(m.size() == 4);
  CHECK(m[0].path == "a/dog.wav");
  CHECK(m[0].name == "a/dog.wav");
  CHECK(m[0].labels == std::vector<int>{cl.find("Dog"), cl.find("Bark")});
  CHECK(m[0].line == 2);
  CHECK(m[1].labels == std::vector<int>{1, 0});
  CHECK(m[2].path == "with, comma.wav");
  CHECK(m[2].labels == std::vector<int>{cl.find("Dog")});  // /m/0bt9lr is Dog
  CHECK(m[3].labels == std::vector<int>{cl.find("Dog"), 2});  // no header: every field after the path is a label

  std::string header = write_file("header.csv", "name,duration,path,labels\nclip1,10,x.wav,Speech\n");
  m = read_manifest(header, cl);
  REQUIRE(m.size() == 1);
  CHECK(m[0].name == "clip1");
  CHECK(m[0].path == "x.wav");
  CHECK(m[0].labels == std::vector<int>{0});
}

TEST_CASE("manifest JSONL and AST JSON datafile", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  std::string jsonl = write_file("m.jsonl", "{\"path\": \"a.wav\", \"labels\": [\"Dog\", \"/m/09x0r\"]}\n\n"
                                            "{\"wav\": \"b.wav\", \"labels\": \"/m/09x0r,/m/0bt9lr\", \"name\": \"B\"}\n");
  std::vector<ManifestEntry> m = read_manifest(jsonl, cl);
  REQUIRE(m.size() == 2);
  CHECK(m[0].labels == std::vector<int>{cl.find("Dog"), 0});
  CHECK(m[1].path == "b.wav");
  CHECK(m[1].name == "B");
  CHECK(m[1].labels == std::vector<int>{0, cl.find("Dog")});
  CHECK(m[1].line == 3);

  std::string ast = write_file("ast.json", R"({"data": [{"wav": "/x/Y1.wav", "labels": "/m/09x0r,/m/05zppz"}]})");
  m = read_manifest(ast, cl);
  REQUIRE(m.size() == 1);
  CHECK(m[0].path == "/x/Y1.wav");
  CHECK(m[0].labels == std::vector<int>{0, 1});
}

TEST_CASE("manifest errors: unknown label, bad JSON, duplicate clip, missing fields", "[prep]") {
  ClassLabels cl = read_class_labels(kLabels);
  std::string unknown = write_file("unknown.csv", "path,labels\nok.wav,Dog\nbad.wav,Dog;Doggo\n");
  CHECK(user_error_of([&] { read_manifest(unknown, cl); }) ==
        unknown + ":3: unknown label 'Doggo' (neither a MID nor a display name in " + kLabels + ")");
  std::string unknown_json = write_file("unknown.jsonl", "{\"path\": \"a.wav\", \"labels\": [\"Speech\", \"/m/x\"]}\n");
  CHECK(user_error_of([&] { read_manifest(unknown_json, cl); }) ==
        unknown_json + ":1: unknown label '/m/x' (neither a MID nor a display name in " + kLabels + ")");
  std::string broken = write_file("broken.jsonl", "{\"path\": \"a.wav\", \"labels\": [\"Speech\"]}\n{\"path\": \n");
  CHECK(user_error_of([&] { read_manifest(broken, cl); }) == broken + ":2: not valid JSON");
  std::string dup = write_file("dup.csv", "a.wav,Dog\nb.wav,Dog\na.wav,Speech\n");
  CHECK(user_error_of([&] { read_manifest(dup, cl); }) == dup + ":3: duplicate clip name 'a.wav' (first on line 1)");
  std::string nolabels = write_file("nolabels.csv", "a.wav\n");
  CHECK(user_error_of([&] { read_manifest(nolabels, cl); }) == nolabels + ":1: expected path,labels..., got 1 field");
  std::string stray = write_file("stray.csv", "path,labels\na.wav,\"Dog,Bark\"\nb.wav,Dog,Bark\n");
  CHECK(user_error_of([&] { read_manifest(stray, cl); }) ==
        stray + ":3: expected 2 fields as in the header, got 3 (quote a labels list that contains commas, or "
                "separate labels with ';')");
  std::string nolabelcol = write_file("nolabelcol.csv", "path,tags\na.wav,Dog\n");
  CHECK(user_error_of([&] { read_manifest(nolabelcol, cl); }) == nolabelcol + ":1: the header has no 'labels' column");
  std::string nopath = write_file("nopath.jsonl", "{\"labels\": []}\n");
  CHECK(user_error_of([&] { read_manifest(nopath, cl); }) == nopath + ":1: missing string field \"path\" (or \"wav\")");
  std::string empty = write_file("empty.csv", "# nothing\n");
  CHECK(user_error_of([&] { read_manifest(empty, cl); }) == empty + ": no clips");
}
