// The GEMMs run on OpenBLAS's OpenMP build (CMakeLists.txt): with the pthread build its workers spin beside
// the ops' OpenMP threads and a 2-core training step of the demo model takes 1.5x as long.
#include <catch2/catch.hpp>

#include <cblas.h>

TEST_CASE("blas: OpenBLAS is its OpenMP build, sharing the ops' thread pool", "[matmul]") {
  CHECK(openblas_get_parallel() == 2);  // 0 sequential, 1 pthreads, 2 OpenMP
}

// ops::gemm_cpu splits one product into blocks of its long dimension (rows of C, or the depth K with partial
// sums added in block order). Each split must give the product, and the same bits with any thread count.
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "ops/matmul.h"

namespace {

struct GemmCase {
  const char* what;
  engine::ops::GemmShape g;
  float beta;
};

std::vector<float> filled(size_t n, uint64_t key) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(engine::philox_uniform(7, key, i)) * 2.f - 1.f;
  return v;
}

// C = alpha op(A) op(B) + beta C in double, the definition gemm_cpu must meet; bound receives a float
// rounding bound per element ((K + 2) u sum_k |alpha a b| + 2 u |beta c|, the worst case of a float sum; a
// wrong block gives errors of order sqrt(K), far above it).
std::vector<double> reference(std::vector<double>& bound, const engine::ops::GemmShape& g, float alpha, const std::vector<float>& A,
                              const std::vector<float>& B, float beta, const std::vector<float>& C, int64_t lda,
                              int64_t ldb, int64_t ldc) {
  std::vector<double> out(C.begin(), C.end());
  bound.assign(out.size(), 0.0);
  const double eps = 0x1p-24;  // unit roundoff of float
  for (int64_t i = 0; i < g.batch; ++i)
    for (int64_t m = 0; m < g.M; ++m)
      for (int64_t n = 0; n < g.N; ++n) {
        double s = 0, magnitude = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          const double a = A[i * g.stride_a + (g.trans_a ? k * lda + m : m * lda + k)];
          const double b = B[i * g.stride_b + (g.trans_b ? n * ldb + k : k * ldb + n)];
          s += a * b;
          magnitude += std::fabs(alpha * a * b);
        }
        const int64_t at = i * g.stride_c + m * ldc + n;
        double& c = out[at];
        const double kept = beta == 0 ? 0.0 : beta * c;
        bound[at] = double(g.K + 2) * eps * magnitude + 2 * eps * std::fabs(kept) + 1e-30;
        c = alpha * s + kept;
      }
  return out;
}

}  // namespace

TEST_CASE("blas: gemm_cpu's blocked products equal the product and do not depend on the thread count", "[matmul]") {
  using engine::ops::GemmShape;
  std::vector<GemmCase> cases;
  {
    GemmShape g{false, true, 4099, 7, 13};  // 4 row blocks, uneven; C rows longer than N
    g.ldc = 9;
    cases.push_back({"row blocks, B transposed, ldc > N", g, 1.f});
  }
  cases.push_back({"row blocks, A transposed", GemmShape{true, false, 2300, 5, 6}, 0.f});
  cases.push_back({"depth blocks, A transposed (a weight gradient)", GemmShape{true, false, 9, 11, 8197}, 1.f});
  {
    GemmShape g{false, false, 6, 4, 4100};  // 2 depth blocks; A rows longer than K
    g.lda = 4103;
    cases.push_back({"depth blocks, beta 0, lda > K", g, 0.f});
  }
  cases.push_back({"batched", GemmShape{false, true, 5, 3, 4, 3, 20, 12, 15}, 1.f});
  cases.push_back({"one BLAS call", GemmShape{false, false, 300, 8, 100}, 1.f});

  for (const GemmCase& tc : cases) {
    SECTION(tc.what) {
      const GemmShape& g = tc.g;
      const int64_t lda = g.lda ? g.lda : (g.trans_a ? g.M : g.K);
      const int64_t ldb = g.ldb ? g.ldb : (g.trans_b ? g.K : g.N);
      const int64_t ldc = g.ldc ? g.ldc : g.N;
      const int64_t rows_a = g.trans_a ? g.K : g.M, rows_b = g.trans_b ? g.N : g.K;
      const std::vector<float> A = filled(size_t((g.batch - 1) * g.stride_a + rows_a * lda), 1);
      const std::vector<float> B = filled(size_t((g.batch - 1) * g.stride_b + rows_b * ldb), 2);
      const std::vector<float> C0 = filled(size_t((g.batch - 1) * g.stride_c + g.M * ldc), 3);
      const float alpha = 0.75f;
      std::vector<double> bound;
      const std::vector<double> want = reference(bound, g, alpha, A, B, tc.beta, C0, lda, ldb, ldc);

      std::vector<std::vector<float>> got;
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        std::vector<float> C = C0;
        engine::ops::gemm_cpu<float>(g, alpha, A.data(), B.data(), tc.beta, C.data());
        got.push_back(C);
      }
      omp_set_num_threads(omp_get_num_procs());
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::fabs(got[0][i] - want[i]) / bound[i]);
      INFO("largest error in units of the rounding bound: " << worst);
      CHECK(worst <= 1.0);
      CHECK(got[0] == got[1]);
    }
  }
}
