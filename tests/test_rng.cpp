// Philox4x32-10 (engine/rng.h): known answers from the Random123 distribution (kat_vectors), the
// uniform mapping, stream separation by offset, Generator state, and the drop_path test case's mask.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <vector>

#include "engine/rng.h"
#include "ops/drop_path.h"

using namespace engine;

namespace {
void require_words(const Philox4& got, const Philox4& want) {
  for (int i = 0; i < 4; ++i) {
    INFO("word " << i);
    REQUIRE(got.v[i] == want.v[i]);
  }
}
}  // namespace

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors", "[rng]") {
  require_words(philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0), Philox4{{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
  require_words(philox4x32_10(Philox4{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu),
                Philox4{{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
  require_words(philox4x32_10(Philox4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u),
                Philox4{{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST_CASE("philox_uniform lies in the unit interval and is reproducible from (seed, offset)", "[rng]") {
  const int n = 100000;
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    float u = philox_uniform(7, 3, uint64_t(i));
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    REQUIRE(u == philox_uniform(7, 3, uint64_t(i)));
    sum += u;
  }
  // The mean of n uniforms has standard deviation 1/sqrt(12 n) ~ 0.0009: 5 sigma.
  REQUIRE(std::abs(sum / n - 0.5) < 0.0046);
  // Largest value the 24-bit mapping can produce is still below 1.
  REQUIRE(float(0xffffffu) * (1.0f / 16777216.0f) < 1.0f);
}

TEST_CASE("different offsets, seeds and indices give different streams", "[rng]") {
  const int n = 64;
  std::vector<uint32_t> a, b, c;
  for (int i = 0; i < n; ++i) {
    a.push_back(philox_draw(11, 0, uint64_t(i)).v[0]);
    b.push_back(philox_draw(11, 1, uint64_t(i)).v[0]);
    c.push_back(philox_draw(12, 0, uint64_t(i)).v[0]);
  }
  int same_ab = 0, same_ac = 0;
  for (int i = 0; i < n; ++i) {
    same_ab += a[size_t(i)] == b[size_t(i)];
    same_ac += a[size_t(i)] == c[size_t(i)];
  }
  REQUIRE(same_ab == 0);
  REQUIRE(same_ac == 0);
  REQUIRE(std::set<uint32_t>(a.begin(), a.end()).size() == size_t(n));
  // The high halves of the 64-bit index, offset and seed reach the counter/key too.
  REQUIRE(philox_draw(11, 0, 1ull << 32).v[0] != philox_draw(11, 0, 0).v[0]);
  REQUIRE(philox_draw(11, 1ull << 32, 0).v[0] != philox_draw(11, 0, 0).v[0]);
  REQUIRE(philox_draw(11 + (1ull << 32), 0, 0).v[0] != philox_draw(11, 0, 0).v[0]);
}

TEST_CASE("Generator hands out fresh offsets and saves/restores exactly", "[rng]") {
  Generator g(1234);
  REQUIRE(g.seed == 1234);
  uint64_t o0 = g.next_offset();
  uint64_t o1 = g.next_offset();
  REQUIRE(o0 != o1);
  Generator saved = g;  // the state is (seed, offset)
  std::vector<uint64_t> first, replay;
  for (int i = 0; i < 5; ++i) first.push_back(g.next_offset());
  g = saved;
  for (int i = 0; i < 5; ++i) replay.push_back(g.next_offset());
  REQUIRE(first == replay);
  Generator restored(0);
  restored.seed = saved.seed;
  restored.offset = saved.offset;
  REQUIRE(restored.next_offset() == first[0]);
  REQUIRE(philox_uniform(restored.seed, first[0], 0) == philox_uniform(g.seed, first[0], 0));
}

// The seed/offset of the drop_path gradcheck case (tests/ops/drop_path_cases.cpp): with p = 0.4 on 6 samples
// it must drop at least one sample and keep at least one, or the case would not test both branches.
TEST_CASE("drop_path test case drops and keeps samples", "[rng][drop_path]") {
  const uint64_t seed = 42, offset = 5;
  const double p = 0.4;
  Tensor x = Tensor::full({6, 3, 5}, 1.0, DType::f64);  // (N, H, W)
  auto y = ops::drop_path(x, p, true, seed, offset).to_vector<double>();
  int kept = 0, dropped = 0;
  for (int n = 0; n < 6; ++n) {
    bool keep = philox_uniform(seed, offset, uint64_t(n)) < float(1.0 - p);
    keep ? ++kept : ++dropped;
    for (int i = 0; i < 15; ++i) REQUIRE(y[size_t(n * 15 + i)] == (keep ? 1.0 / (1.0 - p) : 0.0));
  }
  REQUIRE(kept >= 1);
  REQUIRE(dropped >= 1);
  // Identity when not training or p == 0: the same tensor, no copy.
  REQUIRE(ops::drop_path(x, p, false, seed, offset).is_same(x));
  REQUIRE(ops::drop_path(x, 0.0, true, seed, offset).is_same(x));
  REQUIRE_THROWS_AS(ops::drop_path(x, 1.0, true, seed, offset), UserError);
  REQUIRE_THROWS_AS(ops::drop_path(x, -0.1, true, seed, offset), UserError);
}
