// Run-time dispatch of hot CPU loops by instruction set: one binary runs on any x86-64 and uses AVX+FMA or
// AVX-512 where the CPU has them. A function marked ENGINE_CPU_CLONES is compiled once per target below and
// the dynamic loader picks the best clone for the CPU at start-up (GCC target_clones, an ifunc). Keep OpenMP
// regions outside the cloned function (an outlined parallel body would not be cloned): clone the per-row
// or per-block body and call it from the parallel loop.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define ENGINE_CPU_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define ENGINE_CPU_CLONES
#endif
// (Clones are named by feature, not by arch=: an arch= clone is chosen only when the CPU model matches that
// exact arch, so a newer or virtualised CPU would fall back to the baseline.)
