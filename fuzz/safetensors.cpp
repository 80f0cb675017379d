// libFuzzer target: safetensors (fuzz/targets.cpp).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return engine::fuzz::fuzz_one("safetensors", data, size);
}
