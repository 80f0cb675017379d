// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11). A pure function of (seed, counter), so the
// CPU and CUDA produce the same numbers for the same seed and offset, in any thread order.
// Convention: key = seed; counter = (element index lo, hi, offset lo, hi). Ops that draw random
// numbers take a (seed, offset) pair; Generator hands out a fresh offset per use.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define ENGINE_HD __host__ __device__ __forceinline__
#else
#define ENGINE_HD inline
#endif

namespace engine {

struct Philox4 {
  uint32_t v[4];
};

ENGINE_HD uint32_t philox_mulhi(uint32_t a, uint32_t b, uint32_t* lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *lo = uint32_t(p);
  return uint32_t(p >> 32);
}

ENGINE_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t lo0, lo1;
    uint32_t hi0 = philox_mulhi(0xD2511F53u, ctr.v[0], &lo0);
    uint32_t hi1 = philox_mulhi(0xCD9E8D57u, ctr.v[2], &lo1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

// Four 32-bit random words for element `index` of the draw at `offset`.
ENGINE_HD Philox4 philox_draw(uint64_t seed, uint64_t offset, uint64_t index) {
  Philox4 c{{uint32_t(index), uint32_t(index >> 32), uint32_t(offset), uint32_t(offset >> 32)}};
  return philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
}

// Uniform in [0, 1) with 24 random bits: exact in float, identical on CPU and CUDA.
ENGINE_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t index) {
  return float(philox_draw(seed, offset, index).v[0] >> 8) * (1.0f / 16777216.0f);
}

// Host-side source of (seed, offset) pairs; its state is two integers, so it saves and restores exactly.
struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  explicit Generator(uint64_t s = 0) : seed(s) {}
  uint64_t next_offset() { return offset++; }
};

}  // namespace engine
