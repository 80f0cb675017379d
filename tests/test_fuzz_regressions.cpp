// Replays every seed of fuzz/corpus/<target>/ and every saved fuzzer finding of
// tests/data/fuzz-regressions/<target>/ through the fuzz targets' own entry points (fuzz/targets.cpp): each
// input must parse or be refused with a one-line UserError; a crash, a sanitizer report or any other
// exception fails the test. scripts/fuzz finds new inputs; docs/reliability.md lists what they found.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// True when the input parsed.
bool replay(const engine::fuzz::Target& t, const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  INFO(t.name << ": " << file.string());
  std::optional<std::string> refused;
  REQUIRE_NOTHROW(refused = engine::fuzz::run_input(t, bytes.data(), bytes.size()));
  if (refused) {
    INFO("refused: " << *refused);
    CHECK(engine::fuzz::one_line(*refused));
  }
  return !refused;
}

}  // namespace

TEST_CASE("fuzz: every target has its libFuzzer file and a seed corpus that parses", "[fuzz]") {
  for (const auto& t : engine::fuzz::targets()) {
    INFO(t.name);
    CHECK(fs::exists(fs::path(ENGINE_FUZZ_DIR) / (std::string(t.name) + ".cpp")));
    const auto seeds = files_in(fs::path(ENGINE_FUZZ_DIR) / "corpus" / t.name);
    REQUIRE(!seeds.empty());
    int parsed = 0;
    for (const auto& file : seeds) parsed += replay(t, file);
    // A corpus of only refused inputs would leave the parser's accepting paths unfuzzed.
    CHECK(parsed > 0);
  }
}

TEST_CASE("fuzz: saved fuzzer findings are refused cleanly or parse", "[fuzz]") {
  int replayed = 0;
  for (const auto& t : engine::fuzz::targets())
    for (const auto& file : files_in(fs::path(ENGINE_TEST_DATA_DIR) / "fuzz-regressions" / t.name)) {
      replay(t, file);
      ++replayed;
    }
  SUCCEED(replayed << " inputs replayed");
}
