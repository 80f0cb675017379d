#include "engine/memory.h"

#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "engine/cuda_context.h"

namespace engine {

static void* cpu_alloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) user_error("out of host memory allocating ", bytes, " bytes");
  return p;
}

Storage::Storage(size_t bytes_, Device device_) : bytes(bytes_), device(device_) {
  if (device == Device::CPU) {
    data = cpu_alloc(bytes);
  } else {
#ifdef ENGINE_CUDA
    data = cuda::allocate(bytes);
#else
    user_error("this engine was built without CUDA (ENGINE_CUDA=OFF); use the CPU device");
#endif
  }
}

Storage::~Storage() {
  if (!data) return;
  if (device == Device::CPU) {
    std::free(data);
  } else {
#ifdef ENGINE_CUDA
    cuda::release(data);
#endif
  }
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef ENGINE_CUDA
  cuda::copy(dst, dst_device == Device::CUDA, src, src_device == Device::CUDA, bytes);
#else
  user_error("this engine was built without CUDA (ENGINE_CUDA=OFF); use the CPU device");
#endif
}

void keep_freed_host_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 1 << 30);  // blocks up to 1 GiB come from the heap (the default moves up to 32 MiB)
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // and the heap's free top is kept up to 1 GiB
#endif
}

void fill_zero_bytes(void* dst, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    std::memset(dst, 0, bytes);
    return;
  }
#ifdef ENGINE_CUDA
  cuda::memset_zero(dst, bytes);
#endif
}

#ifndef ENGINE_CUDA
bool cuda_available() { return false; }
CudaAllocatorStats cuda_allocator_stats() { return {}; }
void cuda_empty_cache() {}
void cuda_set_guard_mode(bool) {}
void cuda_check_guards() {}
void cuda_synchronize() {}
#endif

}  // namespace engine
