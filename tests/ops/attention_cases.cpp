// Cases for ops/attention: an odd-sized case and a small FastViT-like one (T = 16 tokens, D = 8).
#include "ops/attention.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {
struct Dims {
  int64_t N, T;
  int heads;
  int64_t D;
};

std::vector<OpCase> attention_cases() {
  std::vector<OpCase> cases;
  for (Dims d : {Dims{2, 7, 3, 5}, Dims{1, 16, 2, 8}}) {
    Shape qkv{d.N, d.T, 3 * d.heads * d.D};  // (N, T, 3*C)
    int heads = d.heads;
    OpCase c{"qkv " + shape_str(qkv) + " heads " + std::to_string(heads),
             {{qkv, true, -2, 2}},  // qkv-linear outputs: scores spread enough for a non-uniform softmax
             [heads](std::vector<Tensor>& in) { return std::vector<Tensor>{ops::self_attention(in[0], heads)}; }};
    c.parity_rtol = 1e-4;  // f32 chain GEMM -> softmax -> GEMM (and back) compounds rounding
    cases.push_back(c);
  }
  return cases;
}
}  // namespace

REGISTER_OP_CASES(self_attention, attention_cases);
