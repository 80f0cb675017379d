// Cases for ops/layout: odd sizes so every dimension is distinguishable and no block size divides them.
#include <catch2/catch.hpp>

#include "ops/layout.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

REGISTER_OP_CASES(permute, [] {
  std::vector<OpCase> cases;
  auto add = [&](const Shape& s, std::vector<int> dims) {
    cases.push_back({"shape " + shape_str(s) + " dims " + shape_str(Shape(dims.begin(), dims.end())), {{s}},
                     [dims](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::permute(in[0], dims)}; }});
  };
  add({2, 3, 5, 7}, {0, 2, 3, 1});     // NCHW -> NHWC
  add({2, 3, 5, 7}, {0, 3, 1, 2});     // NHWC -> NCHW
  add({2, 3, 5, 7, 3}, {2, 0, 3, 1, 4});
  return cases;
});

REGISTER_OP_CASES(reshape, [] {
  std::vector<OpCase> cases;
  cases.push_back({"(2,3,5,7) -> (6,35)", {{{2, 3, 5, 7}}}, [](std::vector<Tensor>& in) {
                     return std::vector<Tensor>{ops::reshape(in[0], {6, 35})};
                   }});
  return cases;
});

// Forward values against the definition y[i0..] = x[i_dims[0]..] (gradcheck only checks backward vs forward).
TEST_CASE("permute and nchw/nhwc move elements to the right place", "[layout]") {
  const Shape s{2, 3, 5, 7};  // (N, C, H, W)
  std::vector<double> v(size_t(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  Tensor x = Tensor::from_vector(v, s);
  Tensor y = ops::nchw_to_nhwc(x);  // (N, H, W, C)
  REQUIRE(y.shape() == Shape{2, 5, 7, 3});
  auto yv = y.to_vector<double>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 7; ++w)
          REQUIRE(yv[size_t(((n * 5 + h) * 7 + w) * 3 + c)] == v[size_t(((n * 3 + c) * 5 + h) * 7 + w)]);
  REQUIRE(ops::nhwc_to_nchw(y).to_vector<double>() == v);
  REQUIRE_THROWS_AS(ops::permute(x, {0, 1, 1, 2}), UserError);
  REQUIRE_THROWS_AS(ops::permute(x, {0, 1, 2}), UserError);
  REQUIRE_THROWS_AS(ops::reshape(x, {6, 36}), UserError);
  REQUIRE(ops::reshape(x, {6, 35}).raw_data() == x.raw_data());  // a view, no copy
}
