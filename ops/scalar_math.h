// Math functions for the scalar formulas shared by the CPU and CUDA code (ENGINE_HD). On the host the
// unqualified C functions take and return double, so float data would be computed in double (slower, and
// not what PyTorch computes); the std:: overloads keep float in float. Device code has CUDA's own float
// overloads.
#pragma once
#include <cmath>

namespace engine::ops {
#ifndef __CUDA_ARCH__
using std::erf;
using std::exp;
using std::fabs;
using std::log1p;
#endif
}  // namespace engine::ops
