// Philox on the device against the host, through drop_path (a CUDA kernel cannot live in a .cpp): for many
// (seed, offset) pairs, the CUDA kernel must drop exactly the samples the CPU reference drops.
#include <catch2/catch.hpp>
#include <vector>

#include "ops/drop_path.h"

using namespace engine;

TEST_CASE("drop_path drops the same samples on CPU and CUDA", "[rng][gpu]") {
  const int64_t N = 1000;
  Tensor x_cpu = Tensor::full({N, 3}, 1.0, DType::f32);  // (N, inner)
  Tensor x_gpu = x_cpu.to(Device::CUDA);
  int64_t total_dropped = 0;
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefull, 0x123456789abcdefull, ~0ull}) {
    for (uint64_t offset : {0ull, 1ull, 7ull, 1ull << 33}) {
      for (double p : {0.1, 0.4, 0.9}) {
        INFO("seed " << seed << " offset " << offset << " p " << p);
        auto y_cpu = ops::drop_path(x_cpu, p, true, seed, offset).to_vector<float>();
        auto y_gpu = ops::drop_path(x_gpu, p, true, seed, offset).to_vector<float>();
        REQUIRE(y_cpu.size() == y_gpu.size());
        for (int64_t n = 0; n < N; ++n) {
          for (int64_t i = 0; i < 3; ++i) {
            REQUIRE((y_gpu[size_t(n * 3 + i)] == 0.0f) == (y_cpu[size_t(n * 3 + i)] == 0.0f));
            REQUIRE(y_gpu[size_t(n * 3 + i)] == y_cpu[size_t(n * 3 + i)]);  // same float scale 1/(1-p)
          }
          total_dropped += y_cpu[size_t(n * 3)] == 0.0f;
        }
      }
    }
  }
  REQUIRE(total_dropped > 0);
}
