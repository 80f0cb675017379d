// libFuzzer target: panns_h5 (fuzz/targets.cpp).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return engine::fuzz::fuzz_one("panns_h5", data, size);
}
