// Full-size golden (CTest label `full`): convnext_dcls_audio_tiny at the paper's size (28.2 M parameters)
// against the paper's PyTorch code, with the checks and bounds of tests/model_golden.h. The golden is about
// 230 MB and not committed: generate it with
//   python3 tools/gen_model_golden.py /path/to/DCLS-Audio --full
// which writes to $ENGINE_FULL_GOLDEN_DIR or ~/.cache/dcls-engine/model_golden (read from the same place
// here). Without it the test says SKIPPED and exits with CTest's skip code 77.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "engine/cpu_dispatch.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/model_golden.h"

namespace {

std::string full_golden_dir() {
  if (const char* env = std::getenv("ENGINE_FULL_GOLDEN_DIR"); env && *env) return env;
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string base = cache && *cache ? cache : std::string(home ? home : ".") + "/.cache";
  return base + "/dcls-engine/model_golden";
}

const char* kModel = "convnext_dcls_audio_tiny";

}  // namespace

TEST_CASE("full-size model golden: convnext_dcls_audio_tiny vs the paper's PyTorch code", "[models][golden]") {
  engine::test::check_model_golden(full_golden_dir(), kModel);
}

int main(int argc, char** argv) {
  engine::flush_denormals();  // as every app does (engine/app_main.h)
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--list", 0) == 0) listing = true;
  const std::string golden = full_golden_dir() + "/" + kModel + ".golden.safetensors";
  if (!listing && !std::ifstream(golden).good()) {
    std::printf("SKIPPED: full-size golden %s not found (generate with tools/gen_model_golden.py --full)\n",
                golden.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
