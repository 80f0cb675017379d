// Cases for ops/conv2d: odd spatial sizes and channel counts, strides that leave a dropped tail, padding
// on one or both axes, groups. Inputs are x (N, H, W, Ci), w (Co, Ci/G, kh, kw) and, except in the
// no-bias case, b (Co).
#include "ops/conv2d.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {

// x in [-1, 1]; weights and bias of the size a fan-in-scaled initialiser gives.
OpCase conv_case(const std::string& label, Shape x, Shape w, bool bias, ops::Conv2dParams p) {
  std::vector<testing::InputSpec> inputs = {{x, true, -1, 1}, {w, true, -0.5, 0.5}};
  if (bias) inputs.push_back({{w[0]}, true, -0.5, 0.5});
  return {label, inputs, [bias, p](std::vector<Tensor>& in) {
            return std::vector<Tensor>{ops::conv2d(in[0], in[1], bias ? in[2] : Tensor(), p)};
          }};
}

}  // namespace

REGISTER_OP_CASES(conv2d, [] {
  std::vector<OpCase> cases;
  // Audio stem: kernel (2, 16), stride (2, 16); W = 35 leaves a 3-frame tail that PyTorch drops.
  cases.push_back(conv_case("stem k(2,16) s(2,16)", {2, 6, 35, 1}, {5, 1, 2, 16}, true, {2, 16, 0, 0, 1}));
  cases.push_back(conv_case("2x2 s2 downsample", {2, 7, 9, 3}, {4, 3, 2, 2}, true, {2, 2, 0, 0, 1}));
  cases.push_back(conv_case("3x3 s2 p1", {2, 7, 11, 3}, {5, 3, 3, 3}, true, {2, 2, 1, 1, 1}));
  cases.push_back(conv_case("1x1", {2, 5, 7, 7}, {5, 7, 1, 1}, true, {1, 1, 0, 0, 1}));
  // 2 x 10 x 15 = 300 output positions: two 256-row blocks of the bias gradient's sum, with a tail.
  cases.push_back(conv_case("1x1 300 positions", {2, 10, 15, 2}, {3, 2, 1, 1}, true, {1, 1, 0, 0, 1}));
  cases.push_back(conv_case("grouped 3x3 g2 p1", {2, 5, 7, 4}, {6, 2, 3, 3}, true, {1, 1, 1, 1, 2}));
  cases.push_back(conv_case("depthwise-as-dense 7x7 g3 p3", {2, 9, 11, 3}, {3, 1, 7, 7}, true, {1, 1, 3, 3, 3}));
  cases.push_back(conv_case("3x3 p1 no bias", {1, 5, 6, 3}, {4, 3, 3, 3}, false, {1, 1, 1, 1, 1}));
  cases.push_back(conv_case("k(3,5) pad (1,2)", {2, 5, 7, 2}, {3, 2, 3, 5}, true, {1, 1, 1, 2, 1}));
  // Everything asymmetric at once: kernel, stride, padding, with groups.
  cases.push_back(conv_case("k(2,3) s(2,3) pad (0,1) g2", {2, 7, 10, 4}, {6, 2, 2, 3}, true, {2, 3, 0, 1, 2}));
  return cases;
});
