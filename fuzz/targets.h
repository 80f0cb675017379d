// Fuzz entry points: one per parser of outside input, shared by the libFuzzer binaries (fuzz/<target>.cpp,
// built with -DENGINE_FUZZ=ON by scripts/fuzz) and the regression test (tests/test_fuzz_regressions.cpp),
// so that a saved crash input is replayed through exactly the code that found it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace engine::fuzz {

struct Target {
  const char* name;    // fuzz/<name>.cpp, fuzz/corpus/<name>/, tests/data/fuzz-regressions/<name>/
  const char* suffix;  // of the temporary file the input is written to (manifests pick their format by it)
  void (*run)(const std::string& path);  // parses the file; may throw UserError, nothing else
};

const std::vector<Target>& targets();
const Target& target(const std::string& name);  // InternalError for an unknown name

// Writes the input to a temporary file and runs the target on it. Returns nothing when the input parsed, the
// message when it was refused with a UserError. Any other exception escapes: that is a bug.
std::optional<std::string> run_input(const Target& t, const uint8_t* data, size_t size);

// What a refusal's message must be: one non-empty line.
bool one_line(const std::string& message);

// LLVMFuzzerTestOneInput's body: run_input, aborting (a crash for libFuzzer) when a refusal's message is not
// one_line.
int fuzz_one(const char* target_name, const uint8_t* data, size_t size);

}  // namespace engine::fuzz
