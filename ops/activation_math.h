// Scalar activation formulas shared by the CPU reference and the CUDA kernels.
#pragma once
#include <cmath>

#include "engine/rng.h"  // ENGINE_HD
#include "ops/activation.h"
#include "ops/scalar_math.h"

namespace engine::ops {

template <class T>
ENGINE_HD T unary_value(Unary op, T x) {
  switch (op) {
    case Unary::relu: return x > T(0) ? x : T(0);
    case Unary::gelu: return T(0.5) * x * (T(1) + erf(x * T(0.70710678118654752440)));
    case Unary::sigmoid: return T(1) / (T(1) + exp(-x));
    case Unary::squared_relu: return x > T(0) ? x * x : T(0);
  }
  return T(0);
}

// d unary_value / dx
template <class T>
ENGINE_HD T unary_derivative(Unary op, T x) {
  switch (op) {
    case Unary::relu: return x > T(0) ? T(1) : T(0);
    case Unary::gelu: {
      T cdf = T(0.5) * (T(1) + erf(x * T(0.70710678118654752440)));
      T pdf = exp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Unary::sigmoid: {
      T s = T(1) / (T(1) + exp(-x));
      return s * (T(1) - s);
    }
    case Unary::squared_relu: return x > T(0) ? T(2) * x : T(0);
  }
  return T(0);
}

}  // namespace engine::ops
