#include "ops/matmul.h"

#include <cblas.h>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(matmul);

namespace engine::ops {

namespace {

void cblas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, float alpha, const float* A,
                blasint lda, const float* B, blasint ldb, float beta, float* C, blasint ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void cblas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, double alpha, const double* A,
                blasint lda, const double* B, blasint ldb, double beta, double* C, blasint ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

template <class T>
void gemm_cpu(const GemmShape& g, T alpha, const T* A, const T* B, T beta, T* C) {
  if (g.batch == 0 || g.M == 0 || g.N == 0) return;
  ENGINE_CHECK(g.K > 0, "gemm with an empty inner dimension");
  // Row-major leading dimensions: the stored row length of each operand.
  blasint lda = blasint(g.trans_a ? g.M : g.K);
  blasint ldb = blasint(g.trans_b ? g.K : g.N);
  CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  // OpenBLAS threads inside each product; the batch loop stays serial.
  for (int64_t i = 0; i < g.batch; ++i)
    cblas_gemm(ta, tb, blasint(g.M), blasint(g.N), blasint(g.K), alpha, A + i * g.stride_a, lda, B + i * g.stride_b,
               ldb, beta, C + i * g.stride_c, blasint(g.N));
}

template void gemm_cpu<float>(const GemmShape&, float, const float*, const float*, float, float*);
template void gemm_cpu<double>(const GemmShape&, double, const double*, const double*, double, double*);

void gemm(const GemmShape& g, double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C) {
  ENGINE_CHECK(A.device() == C.device() && B.device() == C.device() && A.dtype() == C.dtype() && B.dtype() == C.dtype(),
        "gemm operands on mixed devices or dtypes");
  if (C.is_cuda()) {
#ifdef ENGINE_CUDA
    gemm_cuda(g, float(alpha), A.data<float>(), B.data<float>(), float(beta), C.data<float>());
#endif
    return;
  }
  dispatch_cpu_float(C.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gemm_cpu<T>(g, T(alpha), A.data<T>(), B.data<T>(), T(beta), C.data<T>());
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float_op("matmul", {&a, &b});
  USER_CHECK(a.dim() >= 2 && a.dim() == b.dim(),
             "matmul: expected a (B..., M, K) and b (B..., K, N) of equal rank >= 2, got ", shape_str(a.shape()),
             " and ", shape_str(b.shape()));
  Shape batch_dims(a.shape().begin(), a.shape().end() - 2);
  Shape b_expected = batch_dims;  // (B..., K, N) with N taken from b
  b_expected.push_back(a.size(-1));
  b_expected.push_back(b.size(-1));
  USER_CHECK(b.shape() == b_expected, "matmul: for a ", shape_str(a.shape()), " expected b of shape ",
             shape_str(b_expected), ", got ", shape_str(b.shape()));
  GemmShape g;
  g.M = a.size(-2);
  g.K = a.size(-1);
  g.N = b.size(-1);
  USER_CHECK(g.K > 0, "matmul: inner dimension is 0 in ", shape_str(a.shape()));
  g.batch = shape_numel(batch_dims);
  g.stride_a = g.M * g.K;
  g.stride_b = g.K * g.N;
  g.stride_c = g.M * g.N;

  Shape out_shape = batch_dims;
  out_shape.push_back(g.M);
  out_shape.push_back(g.N);
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());  // (B..., M, N)
  gemm(g, 1.0, a, b, 0.0, c);

  if (autograd::needs_grad({&a, &b})) {
    c.set_requires_grad(true);
    autograd::record([a, b, c, g]() {
      Tensor dc = c.grad();  // (B..., M, N)
      if (!dc.defined()) return;
      if (a.requires_grad()) {
        // da (M, K) += dc (M, N) @ b^T (N, K)
        Tensor da = a.grad_or_zeros();
        GemmShape gd{false, true, g.M, g.K, g.N, g.batch, g.stride_c, g.stride_b, g.stride_a};
        gemm(gd, 1.0, dc, b, 1.0, da);
      }
      if (b.requires_grad()) {
        // db (K, N) += a^T (K, M) @ dc (M, N)
        Tensor db = b.grad_or_zeros();
        GemmShape gd{true, false, g.K, g.N, g.M, g.batch, g.stride_a, g.stride_c, g.stride_b};
        gemm(gd, 1.0, a, dc, 1.0, db);
      }
    });
  }
  return c;
}

}  // namespace engine::ops
