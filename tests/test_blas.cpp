// The GEMMs run on OpenBLAS's OpenMP build (CMakeLists.txt): with the pthread build its workers spin beside
// the ops' OpenMP threads and a 2-core training step of the demo model takes 1.5x as long.
#include <catch2/catch.hpp>

#include <cblas.h>

TEST_CASE("blas: OpenBLAS is its OpenMP build, sharing the ops' thread pool", "[matmul]") {
  CHECK(openblas_get_parallel() == 2);  // 0 sequential, 1 pthreads, 2 OpenMP
}
