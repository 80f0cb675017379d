// Matrix products. Row-major everywhere; CPU through OpenBLAS, CUDA through cuBLAS (no TF32).
//   matmul(a, b): a (B..., M, K) @ b (B..., K, N) -> (B..., M, N), identical leading batch dims (or none)
//
// The GEMM helpers below are shared with linear and self_attention. For each of `batch` matrices:
//   C = alpha * op(A) op(B) + beta * C,   op(A): (M, K), op(B): (K, N), C: (M, N)
// A is stored (M, K), or (K, M) when trans_a; B is stored (K, N), or (N, K) when trans_b.
// Matrix i starts at A + i*stride_a (likewise B, C). beta = 1 accumulates (gradients). Leading dimensions
// (lda, ldb, ldc: the stored row lengths) default to packed rows; conv2d's groups write column slices of C.
//
// On the CPU one product is split into fixed blocks of its long dimension, one single-threaded OpenBLAS call
// each, spread over the OpenMP threads: OpenBLAS's own threads are slow on the thin products of 1x1 convs
// (127k x 64 x 16 on this 2-core machine: 6.1 ms with 2 threads, 4.6 with 1, 2.1 as two blocks). The blocks
// depend only on the shape, so the result does not depend on the thread count.
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
  int64_t lda = 0, ldb = 0, ldc = 0;                  // 0: packed (K or M for A, N or K for B, N for C)
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
