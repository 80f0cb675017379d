#include "engine/cpu_dispatch.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace engine {

void flush_denormals() {
#if defined(__x86_64__)
  // MXCSR bits: FTZ (15) flushes denormal results to zero, DAZ (6) reads denormal inputs as zero.
  auto set = [] { _mm_setcsr(_mm_getcsr() | (1u << 15) | (1u << 6)); };
  set();
#pragma omp parallel
  set();
#endif
}

}  // namespace engine
