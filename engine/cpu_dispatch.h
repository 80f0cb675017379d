// Run-time dispatch of hot CPU loops by instruction set: one binary runs on any x86-64 and uses AVX+FMA or
// AVX-512 where the CPU has them. A function marked ENGINE_CPU_CLONES is compiled once per target below and
// the dynamic loader picks the best clone for the CPU at start-up (GCC target_clones, an ifunc). Keep OpenMP
// regions outside the cloned function (an outlined parallel body would not be cloned): clone the per-row
// or per-block body and call it from the parallel loop.
#pragma once

// Not under ThreadSanitizer: it instruments the ifunc resolver, which the loader runs before TSan's runtime
// is up (a crash at start-up); that build is for the loader's and prep's threads, not for speed.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && \
    !defined(__SANITIZE_THREAD__)
#define ENGINE_CPU_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define ENGINE_CPU_CLONES
#endif
// glibc's libmvec (vector erff, expf, ... since glibc 2.35), linked where CMake found it.
#ifndef ENGINE_HAS_LIBMVEC
#define ENGINE_HAS_LIBMVEC 0
#endif
// (Clones are named by feature, not by arch=: an arch= clone is chosen only when the CPU model matches that
// exact arch, so a newer or virtualised CPU would fall back to the baseline.)

namespace engine {

// Denormal floats cost ~100 cycles per operation on x86 CPUs; DCLS-Gauss kernels are full of them (the
// Gaussian tails underflow gradually). Sets flush-to-zero and denormals-are-zero on the calling thread and on
// every thread of the OpenMP pool (each has its own MXCSR). Results change only for |x| < 1.2e-38. Called by
// run_app and by the test mains.
void flush_denormals();

}  // namespace engine
