// Backend-op tests in the style of ggml's test-backend-ops: each op file in tests/ops/ registers a list
// of cases (input shapes + a forward function). Two generic drivers run every case:
//   gradcheck (CPU, f64): central finite differences of L = sum_k <R_k, out_k> against the analytic
//                         backward, with every input gradient pre-filled to check accumulation (+=);
//   parity    (CUDA, f32): forward outputs and all gradients against the CPU, guard bytes around
//                         every CUDA buffer to catch out-of-bounds writes;
//   f32       (CPU):      forward outputs and all gradients in f32 against the same inputs in f64, so
//                         that the f32-only fast paths (SIMD kernels, vector maths) answer to the reference.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace testing {

using engine::Shape;
using engine::Tensor;

struct InputSpec {
  Shape shape;
  bool grad = true;     // differentiable input (checked by gradcheck/parity)
  double lo = -1.0;     // uniform random values in [lo, hi]
  double hi = 1.0;
};

struct OpCase {
  std::string label;
  std::vector<InputSpec> inputs;
  // Runs the op on the given inputs (all on one device and dtype); returns the outputs to check.
  std::function<std::vector<Tensor>(std::vector<Tensor>&)> forward;
  double parity_rtol = 1e-5;     // CUDA-vs-CPU, relative to the largest magnitude of the reference
  double f32_rtol = 0;           // CPU f32-vs-f64 on the same inputs, likewise; 0: parity_rtol; < 0: not
                                 // compared (f32 cannot hold the case's values; say why where it is set)
  double gradcheck_rtol = 1e-6;  // analytic-vs-numeric, relative to max(1, largest magnitude)
  double fd_step = 1e-6;         // finite-difference step (f64)
};

using CaseList = std::function<std::vector<OpCase>()>;

// op name -> its cases. Populated by REGISTER_OP_CASES in tests/ops/*.cpp.
std::map<std::string, CaseList>& op_case_registry();
struct CaseRegistrar {
  CaseRegistrar(const char* op, CaseList cases);
};

void run_gradcheck(const std::string& op, const OpCase& c);
void run_parity(const std::string& op, const OpCase& c);
void run_f32_vs_f64(const std::string& op, const OpCase& c);

// Max |a - b| / max(1e-30, max |b|) over all elements: the normwise (inf-norm) relative error.
double max_rel_error(const std::vector<double>& a, const std::vector<double>& b);
std::vector<double> as_doubles(const Tensor& t);

}  // namespace testing

#define REGISTER_OP_CASES(op, fn) static ::testing::CaseRegistrar case_registrar_##op(#op, fn)
