// Matrix products. Row-major everywhere; CPU through OpenBLAS, CUDA through cuBLAS (no TF32).
//   matmul(a, b): a (B..., M, K) @ b (B..., K, N) -> (B..., M, N), identical leading batch dims (or none)
//
// The GEMM helpers below are shared with linear and self_attention. For each of `batch` matrices:
//   C = alpha * op(A) op(B) + beta * C,   op(A): (M, K), op(B): (K, N), C: (M, N)
// A is stored (M, K), or (K, M) when trans_a; B is stored (K, N), or (N, K) when trans_b.
// Matrix i starts at A + i*stride_a (likewise B, C). beta = 1 accumulates (gradients).
#pragma once
#include "engine/tensor.h"

namespace engine::ops {

Tensor matmul(const Tensor& a, const Tensor& b);

struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between consecutive matrices
};

// Defined for T = float and double.
template <class T>
void gemm_cpu(const GemmShape& g, T alpha, const T* A, const T* B, T beta, T* C);

#ifdef ENGINE_CUDA
void gemm_cuda(const GemmShape& g, float alpha, const float* A, const float* B, float beta, float* C);
#endif

// Dispatches on the device and dtype of C (A, B, C share both).
void gemm(const GemmShape& g, double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C);

}  // namespace engine::ops
