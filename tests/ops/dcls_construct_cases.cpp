// Cases for ops/dcls_construct: square and non-square grids, Cin_g > 1, positive and negative SIG (away
// from the |SIG| kink at 0, which the golden files cover), Gaussians cut by the grid border, elements far
// outside, and P/SIG shared by two constructions (their gradients must be the sum of both).
#include "ops/dcls_construct.h"
#include "tests/harness/op_cases.h"

using namespace engine;
using testing::OpCase;

namespace {

struct DclsCase {
  const char* what;
  int64_t Co, Cig, Kc;
  int D0, D1;
  double p_lo, p_hi, sig_lo, sig_hi;
};

// dP and dSIG are sums over D0*D1 cells of terms that nearly cancel (sum_cells T_k = weight * A_k * 1e-7/Z_k).
constexpr double kParityRtol = 1e-4;

OpCase single_case(const DclsCase& k) {
  OpCase c;
  c.label = std::string(k.what) + ": weight " + shape_str({k.Co, k.Cig, k.Kc}) + " grid " + std::to_string(k.D0) +
            "x" + std::to_string(k.D1);
  const Shape ps{2, k.Co, k.Cig, k.Kc};
  c.inputs = {{{k.Co, k.Cig, k.Kc}, true, -1, 1}, {ps, true, k.p_lo, k.p_hi}, {ps, true, k.sig_lo, k.sig_hi}};
  const int D0 = k.D0, D1 = k.D1;
  c.forward = [D0, D1](std::vector<Tensor>& in) {
    return std::vector<Tensor>{ops::dcls_construct(in[0], in[1], in[2], D0, D1)};
  };
  c.parity_rtol = kParityRtol;
  return c;
}

// Two layers (own weights) tied to one P and one SIG, as in a DCLS-Audio stage.
OpCase shared_case() {
  OpCase c;
  c.label = "P/SIG shared by two constructions";
  const Shape ws{4, 1, 5}, ps{2, 4, 1, 5};
  c.inputs = {{ws, true, -1, 1}, {ws, true, -1, 1}, {ps, true, -2.5, 2.5}, {ps, true, 0.05, 1.2}};
  c.forward = [](std::vector<Tensor>& in) {
    return std::vector<Tensor>{ops::dcls_construct(in[0], in[2], in[3], 6, 6),
                               ops::dcls_construct(in[1], in[2], in[3], 6, 6)};
  };
  c.parity_rtol = kParityRtol;
  return c;
}

std::vector<OpCase> dcls_cases() {
  std::vector<OpCase> cases;
  for (const DclsCase& k : std::vector<DclsCase>{
           {"depthwise, border-cut Gaussians", 5, 1, 4, 7, 7, -4.5, 4.5, 0.05, 1.5},
           {"non-square, Cin_g 2, negative SIG", 3, 2, 3, 5, 8, -3, 3, -1.2, -0.05},
           {"wide sigmas", 2, 3, 2, 4, 3, -1, 1, 1.0, 3.0},
           {"far outside the grid", 2, 1, 3, 5, 4, 6, 9, 0.05, 0.5},
           {"DCLS-Audio size 23x23, Kc 26", 2, 1, 26, 23, 23, -11, 11, 0.02, 1.0},
       })
    cases.push_back(single_case(k));
  // Gaussians 6-9 cells outside the grid with sigmas down to 0.05: most cells' exp() underflows in f32 and the
  // kernel is a ratio of the few left (measured against f64: kernel 1.2e-4, gradients up to 4e-2). f32 cannot
  // answer to f64 there; this case checks the f64 maths only.
  for (OpCase& c : cases)
    if (c.label.rfind("far outside the grid", 0) == 0) c.f32_rtol = -1;
  cases.push_back(shared_case());
  return cases;
}

}  // namespace

REGISTER_OP_CASES(dcls_construct, dcls_cases);
