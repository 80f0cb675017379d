// Storage and allocators.
//   CPU : 64-byte aligned host memory.
//   CUDA: a caching allocator on the engine's stream; after the first training step every request is
//         served from the cache, so a steady step performs no cudaMalloc (see cuda_allocator_stats()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/dtype.h"

namespace engine {

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// Byte copy between any two devices, ordered on the engine's CUDA stream; returns when dst is valid
// for the host (device-to-host copies synchronise).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void fill_zero_bytes(void* dst, Device device, size_t bytes);

// Makes freed host memory stay in the process (glibc: no mmap for large blocks, no trimming of the heap), so
// that a training step's tensors, the same sizes every step, reuse pages instead of mapping fresh ones: a
// fresh page costs a fault and the kernel's zeroing (8% of the demo model's step). Called by run_app.
void keep_freed_host_memory();

// True when the engine was built with CUDA and a CUDA device is present.
bool cuda_available();

struct CudaAllocatorStats {
  uint64_t device_mallocs = 0;  // cudaMalloc calls so far
  uint64_t requests = 0;        // allocations served (cache hits included)
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;
};
CudaAllocatorStats cuda_allocator_stats();
void cuda_empty_cache();

// Guard mode (tests): every CUDA block is surrounded by canary bytes; cuda_check_guards() throws if a
// kernel wrote outside its buffers. Blocks are also checked when freed.
void cuda_set_guard_mode(bool on);
void cuda_check_guards();

void cuda_synchronize();

}  // namespace engine
