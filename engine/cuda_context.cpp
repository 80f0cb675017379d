// CUDA stream, cuBLAS handle and the caching allocator (host code; built only with ENGINE_CUDA).
#ifdef ENGINE_CUDA
#include "engine/cuda_context.h"

#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/memory.h"

namespace engine {
namespace cuda {

namespace {

constexpr size_t kGuardBytes = 256;
constexpr unsigned char kGuardByte = 0xA5;

// Requests are rounded so that blocks of a steady training step are reused exactly:
// 512 B granularity below 1 MiB, 128 KiB above.
size_t round_request(size_t bytes) {
  if (bytes == 0) bytes = 1;
  size_t g = bytes < (1u << 20) ? 512 : (128u << 10);
  return (bytes + g - 1) / g * g;
}

struct Block {
  void* base;   // what cudaMalloc returned
  size_t size;  // rounded size (payload)
};

struct Allocator {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;      // size -> base, cached
  std::unordered_map<void*, Block> live;         // user pointer -> block
  CudaAllocatorStats stats;
  bool guard_mode = false;

  void* device_malloc(size_t bytes) {
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cache_locked();
      err = cudaMalloc(&p, bytes);
    }
    if (err == cudaErrorMemoryAllocation)
      user_error("out of GPU memory allocating ", bytes, " bytes (", stats.bytes_in_use, " in use)");
    CUDA_CHECK(err);
    ++stats.device_mallocs;
    return p;
  }

  void release_cache_locked() {
    CUDA_CHECK(cudaStreamSynchronize(stream()));
    for (auto& kv : free_blocks) CUDA_CHECK(cudaFree(kv.second));
    free_blocks.clear();
    stats.bytes_cached = 0;
  }

  void check_block_guards(void* user, const Block& b) {
    std::vector<unsigned char> host(kGuardBytes);
    const unsigned char* base = static_cast<const unsigned char*>(b.base);
    for (int side = 0; side < 2; ++side) {
      const unsigned char* g = side == 0 ? base : base + kGuardBytes + b.size;
      CUDA_CHECK(cudaMemcpyAsync(host.data(), g, kGuardBytes, cudaMemcpyDeviceToHost, stream()));
      CUDA_CHECK(cudaStreamSynchronize(stream()));
      for (size_t i = 0; i < kGuardBytes; ++i)
        ENGINE_CHECK(host[i] == kGuardByte, "CUDA out-of-bounds write detected ", side == 0 ? "before" : "after",
              " block ", user, " of ", b.size, " bytes");
    }
  }

  void* allocate(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.requests;
    size_t size = round_request(bytes);
    if (guard_mode) {
      unsigned char* base = static_cast<unsigned char*>(device_malloc(size + 2 * kGuardBytes));
      CUDA_CHECK(cudaMemsetAsync(base, kGuardByte, size + 2 * kGuardBytes, stream()));
      void* user = base + kGuardBytes;
      live[user] = Block{base, size};
      stats.bytes_in_use += size;
      return user;
    }
    void* p = nullptr;
    auto it = free_blocks.lower_bound(size);
    if (it != free_blocks.end() && it->first <= size + size / 8) {
      size = it->first;
      p = it->second;
      free_blocks.erase(it);
      stats.bytes_cached -= size;
    } else {
      p = device_malloc(size);
    }
    live[p] = Block{p, size};
    stats.bytes_in_use += size;
    return p;
  }

  void release(void* user) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = live.find(user);
    ENGINE_CHECK(it != live.end(), "releasing a pointer the CUDA allocator does not own");
    Block b = it->second;
    live.erase(it);
    stats.bytes_in_use -= b.size;
    if (b.base != user) {  // guarded block
      check_block_guards(user, b);
      CUDA_CHECK(cudaStreamSynchronize(stream()));
      CUDA_CHECK(cudaFree(b.base));
      return;
    }
    // Stream-ordered reuse: all work runs on one stream, so a later kernel using this block is ordered
    // after every kernel that used it before.
    free_blocks.emplace(b.size, b.base);
    stats.bytes_cached += b.size;
  }
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: blocks may be released during exit
  return *a;
}

}  // namespace

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t st;
    CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  return s;
}

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle;
    CUBLAS_CHECK(cublasCreate(&handle));
    CUBLAS_CHECK(cublasSetStream(handle, stream()));
    // Parity with the CPU oracle: no TF32 unless a caller opts in.
    CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
    return handle;
  }();
  return h;
}

void* allocate(size_t bytes) { return allocator().allocate(bytes); }
void release(void* ptr) { allocator().release(ptr); }

void copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, size_t bytes) {
  cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                      : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
  // Host memory is pageable: make the copy complete before the host reads or frees it.
  if (!dst_on_device || !src_on_device) CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void memset_zero(void* dst, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream())); }

}  // namespace cuda

bool cuda_available() {
  static bool ok = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return n > 0;
  }();
  return ok;
}

CudaAllocatorStats cuda_allocator_stats() {
  auto& a = cuda::allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.stats;
}

void cuda_empty_cache() {
  auto& a = cuda::allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.release_cache_locked();
}

void cuda_set_guard_mode(bool on) {
  auto& a = cuda::allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  a.guard_mode = on;
}

void cuda_check_guards() {
  auto& a = cuda::allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  for (auto& kv : a.live)
    if (kv.second.base != kv.first) a.check_block_guards(kv.first, kv.second);
}

void cuda_synchronize() { CUDA_CHECK(cudaStreamSynchronize(cuda::stream())); }

}  // namespace engine
#endif
