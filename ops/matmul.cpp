#include "ops/matmul.h"

#include <cblas.h>

#include <climits>
#include <vector>

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

// Rows of C per block at least, and K per block at least when the sum is split (partial products).
constexpr int64_t kMinRowsPerBlock = 1024, kMinDepthPerBlock = 2048, kMaxBlocks = 16;

// The largest power of two <= min(kMaxBlocks, n / min_per_block), at least 1: even splits over 2^k threads.
int64_t block_count(int64_t n, int64_t min_per_block) {
  int64_t b = 1;
  while (b * 2 <= kMaxBlocks && b * 2 * min_per_block <= n) b *= 2;
  return b;
}

}  // namespace

template <class T>
void gemm_cpu(const GemmShape& g, T alpha, const T* A, const T* B, T beta, T* C) {
  if (g.batch == 0 || g.M == 0 || g.N == 0) return;
  ENGINE_CHECK(g.K > 0, "gemm with an empty inner dimension");
  const int64_t lda = g.lda ? g.lda : (g.trans_a ? g.M : g.K);
  const int64_t ldb = g.ldb ? g.ldb : (g.trans_b ? g.K : g.N);
  const int64_t ldc = g.ldc ? g.ldc : g.N;
  ENGINE_CHECK(g.M <= INT_MAX && g.N <= INT_MAX && g.K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
                   ldc <= INT_MAX, "GEMM dims exceed the BLAS int range: ", g.M, " x ", g.N, " x ", g.K);
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  // C rows [r0, r1) over depth [k0, k1) of matrix i; single-threaded inside an OpenMP region.
  auto product = [&](int64_t i, int64_t r0, int64_t r1, int64_t k0, int64_t k1, T beta_, T* c, int64_t ldc_) {
    const T* a = A + i * g.stride_a + (g.trans_a ? k0 * lda + r0 : r0 * lda + k0);
    const T* b = B + i * g.stride_b + (g.trans_b ? k0 : k0 * ldb);
    cblas_gemm(ta, tb, blasint(r1 - r0), blasint(g.N), blasint(k1 - k0), alpha, a, blasint(lda), b, blasint(ldb),
               beta_, c, blasint(ldc_));
  };
  if (g.batch > 1) {  // one product per thread at a time
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < g.batch; ++i) product(i, 0, g.M, 0, g.K, beta, C + i * g.stride_c, ldc);
    return;
  }
  const int64_t row_blocks = block_count(g.M, kMinRowsPerBlock);
  if (row_blocks > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < row_blocks; ++blk) {
      const int64_t r0 = g.M * blk / row_blocks, r1 = g.M * (blk + 1) / row_blocks;
      product(0, r0, r1, 0, g.K, beta, C + r0 * ldc, ldc);
    }
    return;
  }
  const int64_t depth_blocks = block_count(g.K, kMinDepthPerBlock);
  if (depth_blocks == 1) {  // small everywhere: OpenBLAS threads it
    product(0, 0, g.M, 0, g.K, beta, C, ldc);
    return;
  }
  // A long sum into a small C (weight gradients): partial products per depth block, added in block order.
  thread_local std::vector<T> partial;
  const int64_t mn = g.M * g.N;
  if (partial.size() < size_t(depth_blocks * mn)) partial.resize(size_t(depth_blocks * mn));
  T* parts = partial.data();
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < depth_blocks; ++blk) {
    const int64_t k0 = g.K * blk / depth_blocks, k1 = g.K * (blk + 1) / depth_blocks;
    product(0, 0, g.M, k0, k1, T(0), parts + blk * mn, g.N);
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < g.M; ++r)
    for (int64_t n = 0; n < g.N; ++n) {
      T sum = parts[r * g.N + n];
      for (int64_t blk = 1; blk < depth_blocks; ++blk) sum += parts[blk * mn + r * g.N + n];
      T& c = C[r * ldc + n];
      c = beta == T(0) ? sum : beta * c + sum;  // beta 0 ignores C, as BLAS does
    }
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
