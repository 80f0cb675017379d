// Cases for ops/depthwise_conv2d: odd channel counts and map sizes, square and non-square kernels from
// 3x3 to 31x31, strides 1 and 2, paddings below, at and above kernel/2, with and without bias, and
// kernels larger than the map (the 23x23 DCLS kernel on the 8x7 stage), and the f32 fast path's shapes.
#include "ops/depthwise_conv2d.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {

struct DwCase {
  int64_t N, H, W, C, KH, KW;
  ops::DepthwiseParams p;
  bool bias;
};

OpCase make_case(const DwCase& k) {
  OpCase c;
  c.label = "x " + shape_str({k.N, k.H, k.W, k.C}) + " k " + std::to_string(k.KH) + "x" + std::to_string(k.KW) +
            " s " + std::to_string(k.p.stride_h) + "," + std::to_string(k.p.stride_w) + " p " +
            std::to_string(k.p.pad_h) + "," + std::to_string(k.p.pad_w) + (k.bias ? " bias" : " no bias");
  c.inputs = {{{k.N, k.H, k.W, k.C}, true, -1, 1}, {{k.C, 1, k.KH, k.KW}, true, -0.5, 0.5}};
  if (k.bias) c.inputs.push_back({{k.C}, true, -0.5, 0.5});
  const ops::DepthwiseParams p = k.p;
  const bool bias = k.bias;
  c.forward = [p, bias](std::vector<Tensor>& in) {
    return std::vector<Tensor>{ops::depthwise_conv2d(in[0], in[1], bias ? in[2] : Tensor(), p)};
  };
  // Sums of up to KH*KW products (dx, y) or N*Ho*Wo products (dw) in float32.
  if (k.KH * k.KW > 100) c.parity_rtol = 1e-4;
  return c;
}

std::vector<OpCase> depthwise_cases() {
  std::vector<OpCase> cases;
  for (const DwCase& k : std::vector<DwCase>{
           {2, 5, 7, 3, 3, 3, {1, 1, 1, 1}, true},       // ConvNeXt/RepMixer-like 3x3 "same"
           {1, 9, 8, 5, 3, 5, {2, 2, 1, 2}, true},       // non-square, stride 2
           {2, 6, 11, 4, 7, 7, {2, 1, 3, 3}, false},     // 7x7 baseline, mixed strides
           {1, 9, 10, 3, 5, 5, {2, 2, 0, 0}, true},      // no padding
           {1, 4, 5, 2, 3, 3, {1, 2, 4, 3}, true},       // padding above kernel/2 (all-zero border outputs)
           {2, 5, 4, 3, 23, 23, {1, 1, 11, 11}, true},   // DCLS 23x23 on a map smaller than the kernel
           {1, 9, 7, 2, 31, 25, {1, 2, 15, 12}, false},  // largest, non-square kernel
           {1, 3, 17, 9, 5, 7, {1, 1, 2, 3}, true},      // odd channel count above the SIMD width
           // Stride 1 with C a multiple of 16: the f32 register-blocked path (8-column blocks with a tail,
           // tap chunks of 8 with a tail, padding above KW - 1 in the input gradient).
           {2, 7, 13, 16, 23, 23, {1, 1, 11, 11}, true},  // DCLS 23x23, Wo = 13: one block + a tail of 5
           {1, 5, 19, 32, 7, 7, {1, 1, 3, 3}, false},     // 7x7, two channel vectors, Wo = 19
           {1, 4, 6, 16, 3, 3, {1, 1, 2, 4}, true},       // pad 4 > KW - 1 along the row, Wo = 10
           {1, 6, 9, 16, 5, 9, {1, 1, 1, 4}, true},       // non-square, padding below kernel/2 in rows
       })
    cases.push_back(make_case(k));
  return cases;
}

}  // namespace

REGISTER_OP_CASES(depthwise_conv2d, depthwise_cases);
