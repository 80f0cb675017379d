#include <climits>

#include "engine/cuda_context.h"
#include "ops/matmul.h"

namespace engine::ops {

// cuBLAS is column-major: a row-major (R, S) matrix is its column-major transpose (S, R). The row-major
// product C (M, N) = op(A) op(B) is therefore computed as the column-major C^T (N, M) = op(B)^T op(A)^T,
// i.e. cuBLAS gets (N, M, K) with the operands swapped; each keeps its own transpose flag and leading
// dimension (its stored row length).
void gemm_cuda(const GemmShape& g, float alpha, const float* A, const float* B, float beta, float* C) {
  if (g.batch == 0 || g.M == 0 || g.N == 0) return;
  ENGINE_CHECK(g.K > 0, "gemm with an empty inner dimension");
  ENGINE_CHECK(g.M <= INT_MAX && g.N <= INT_MAX && g.K <= INT_MAX && g.batch <= INT_MAX, "gemm dimensions exceed int range");
  int lda = int(g.trans_a ? g.M : g.K);
  int ldb = int(g.trans_b ? g.K : g.N);
  cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.batch == 1) {
    CUBLAS_CHECK(cublasSgemm(cuda::cublas(), op_b, op_a, int(g.N), int(g.M), int(g.K), &alpha, B, ldb, A, lda, &beta,
                             C, int(g.N)));
    return;
  }
  CUBLAS_CHECK(cublasSgemmStridedBatched(cuda::cublas(), op_b, op_a, int(g.N), int(g.M), int(g.K), &alpha, B, ldb,
                                         g.stride_b, A, lda, g.stride_a, &beta, C, int(g.N), g.stride_c,
                                         int(g.batch)));
}

}  // namespace engine::ops
