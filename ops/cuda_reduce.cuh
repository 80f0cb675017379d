// Block-wide reductions shared by the CUDA kernels.
#pragma once

namespace engine::ops {

// Sum of v over a block of kBlock threads (blockDim.x == kBlock, a power of two); every thread gets the
// total. buf: kBlock floats of shared memory.
template <int kBlock>
__device__ float block_sum(float v, float* buf) {
  static_assert((kBlock & (kBlock - 1)) == 0, "block size must be a power of two");
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) buf[threadIdx.x] += buf[threadIdx.x + stride];
    __syncthreads();
  }
  float total = buf[0];
  __syncthreads();  // everyone has read buf[0] before the next call overwrites it
  return total;
}

}  // namespace engine::ops
