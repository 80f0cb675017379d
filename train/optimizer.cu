// CUDA kernels of train/optimizer.h; the element maths is train/optimizer_math.h, shared with the CPU.
// LAMB's reductions (global gradient norm, per-tensor norms) are two-pass with a fixed order of partial
// sums, so a step is deterministic on a given GPU, and need no host synchronisation.
#include "engine/cuda_context.h"
#include "train/optimizer_cuda.h"

namespace engine::train::cuda_optim {

namespace {

constexpr int kBlock = 256;
constexpr int64_t kChunk = 8192;      // elements per block of a tensor (LAMB tables)
constexpr int kNormBlocks = 512;      // partial sums of the global gradient norm

__device__ float block_sum(float x) {
  __shared__ float shared[kBlock / 32];
  for (int o = 16; o > 0; o >>= 1) x += __shfl_down_sync(0xffffffffu, x, o);
  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = x;
  __syncthreads();
  x = threadIdx.x < kBlock / 32 ? shared[threadIdx.x] : 0.f;
  if (threadIdx.x < 32)
    for (int o = 16; o > 0; o >>= 1) x += __shfl_down_sync(0xffffffffu, x, o);
  __syncthreads();
  return x;  // valid in thread 0
}

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, AdamScalars s) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) adamw_element(p[i], g[i], m[i], v[i], s);
}

__global__ void sumsq_partials_kernel(const float* g, int64_t n, float* partials) {
  float acc = 0.f;
  for (int64_t i = int64_t(blockIdx.x) * kBlock + threadIdx.x; i < n; i += int64_t(gridDim.x) * kBlock)
    acc += g[i] * g[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void clip_kernel(const float* partials, int count, float max_norm, float* clip) {
  float acc = 0.f;
  for (int i = threadIdx.x; i < count; i += kBlock) acc += partials[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    const float norm = sqrtf(acc);
    *clip = norm > max_norm ? norm / max_norm : 1.f;
  }
}

// chunk c: elements [begin, begin + numel) of tensor `tensor` of its group.
struct Chunk {
  int64_t begin, numel;
  int tensor;
};

__global__ void lamb_moments_kernel(const Chunk* chunks, float* p, const float* g, float* m, float* v,
                                    const float* clip, AdamScalars s, bool trust, float* partials) {
  const Chunk c = chunks[blockIdx.x];
  const float k = *clip;
  float p_sq = 0.f, u_sq = 0.f;
  for (int64_t j = threadIdx.x; j < c.numel; j += kBlock) {
    const int64_t i = c.begin + j;
    const float u = lamb_moments(p[i], g[i], k, m[i], v[i], s);
    if (trust) {
      p_sq += p[i] * p[i];
      u_sq += u * u;
    } else {
      p[i] = p[i] + (-s.lr) * u;
    }
  }
  if (!trust) return;
  p_sq = block_sum(p_sq);
  u_sq = block_sum(u_sq);
  if (threadIdx.x == 0) partials[2 * blockIdx.x] = p_sq, partials[2 * blockIdx.x + 1] = u_sq;
}

// One thread per tensor: its chunks' partial sums in order -> trust ratio.
__global__ void lamb_trust_kernel(const int* first_chunk, int tensors, const float* partials, float* ratio) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= tensors) return;
  float p_sq = 0.f, u_sq = 0.f;
  for (int c = first_chunk[t]; c < first_chunk[t + 1]; ++c) p_sq += partials[2 * c], u_sq += partials[2 * c + 1];
  ratio[t] = lamb_trust_ratio(p_sq, u_sq);
}

__global__ void lamb_apply_kernel(const Chunk* chunks, float* p, const float* m, const float* v, AdamScalars s,
                                  const float* ratio) {
  const Chunk c = chunks[blockIdx.x];
  const float r = ratio[c.tensor];
  for (int64_t j = threadIdx.x; j < c.numel; j += kBlock) {
    const int64_t i = c.begin + j;
    p[i] = p[i] + (-s.lr) * (lamb_update(p[i], m[i], v[i], s) * r);
  }
}

__global__ void ema_kernel(float* ema, const float* p, int64_t n, float decay, float one_minus) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) ema[i] = ema[i] * decay + one_minus * p[i];
}

}  // namespace

void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s) {
  adamw_kernel<<<cuda::grid_for(n, kBlock), kBlock, 0, cuda::stream()>>>(p, g, m, v, n, s);
  CUDA_CHECK_LAUNCH();
}

void ema_range(float* ema, const float* p, int64_t n, float decay) {
  ema_kernel<<<cuda::grid_for(n, kBlock), kBlock, 0, cuda::stream()>>>(ema, p, n, decay, 1.f - decay);
  CUDA_CHECK_LAUNCH();
}

struct LambWorkspace::Impl {
  struct Group {
    Chunk* chunks = nullptr;  // device
    int* first_chunk = nullptr;  // device, tensors + 1
    int num_chunks = 0, num_tensors = 0;
  };
  std::vector<Group> groups;
  float* partials = nullptr;  // device, 2 per chunk of the largest group, at least kNormBlocks
  float* ratio = nullptr;     // device, one per tensor of the largest group
  float* clip = nullptr;      // device scalar
};

LambWorkspace::LambWorkspace(const std::vector<std::vector<LambTensor>>& groups) : impl_(new Impl) {
  size_t max_partials = kNormBlocks, max_tensors = 1;
  for (const auto& tensors : groups) {
    std::vector<Chunk> chunks;
    std::vector<int> first{0};
    for (size_t t = 0; t < tensors.size(); ++t) {
      for (int64_t b = 0; b < tensors[t].numel; b += kChunk)
        chunks.push_back({tensors[t].offset + b, std::min(kChunk, tensors[t].numel - b), int(t)});
      first.push_back(int(chunks.size()));
    }
    Impl::Group g;
    g.num_chunks = int(chunks.size());
    g.num_tensors = int(tensors.size());
    if (!chunks.empty()) {
      g.chunks = static_cast<Chunk*>(cuda::allocate(chunks.size() * sizeof(Chunk)));
      cuda::copy(g.chunks, true, chunks.data(), false, chunks.size() * sizeof(Chunk));
    }
    g.first_chunk = static_cast<int*>(cuda::allocate(first.size() * sizeof(int)));
    cuda::copy(g.first_chunk, true, first.data(), false, first.size() * sizeof(int));
    impl_->groups.push_back(g);
    max_partials = std::max(max_partials, 2 * chunks.size());
    max_tensors = std::max(max_tensors, tensors.size());
  }
  impl_->partials = static_cast<float*>(cuda::allocate(max_partials * sizeof(float)));
  impl_->ratio = static_cast<float*>(cuda::allocate(max_tensors * sizeof(float)));
  impl_->clip = static_cast<float*>(cuda::allocate(sizeof(float)));
}

LambWorkspace::~LambWorkspace() {
  for (auto& g : impl_->groups) {
    if (g.chunks) cuda::release(g.chunks);
    cuda::release(g.first_chunk);
  }
  cuda::release(impl_->partials);
  cuda::release(impl_->ratio);
  cuda::release(impl_->clip);
  delete impl_;
}

void LambWorkspace::compute_clip(const float* g, int64_t n, float max_norm) {
  sumsq_partials_kernel<<<kNormBlocks, kBlock, 0, cuda::stream()>>>(g, n, impl_->partials);
  CUDA_CHECK_LAUNCH();
  clip_kernel<<<1, kBlock, 0, cuda::stream()>>>(impl_->partials, kNormBlocks, max_norm, impl_->clip);
  CUDA_CHECK_LAUNCH();
}

void LambWorkspace::update_group(int group, float* p, const float* g, float* m, float* v, const AdamScalars& s,
                                 bool trust) {
  const Impl::Group& gr = impl_->groups[size_t(group)];
  if (gr.num_chunks == 0) return;
  cudaStream_t st = cuda::stream();
  lamb_moments_kernel<<<gr.num_chunks, kBlock, 0, st>>>(gr.chunks, p, g, m, v, impl_->clip, s, trust, impl_->partials);
  CUDA_CHECK_LAUNCH();
  if (!trust) return;
  lamb_trust_kernel<<<cuda::grid_for(gr.num_tensors, kBlock), kBlock, 0, st>>>(gr.first_chunk, gr.num_tensors,
                                                                               impl_->partials, impl_->ratio);
  CUDA_CHECK_LAUNCH();
  lamb_apply_kernel<<<gr.num_chunks, kBlock, 0, st>>>(gr.chunks, p, m, v, s, impl_->ratio);
  CUDA_CHECK_LAUNCH();
}

}  // namespace engine::train::cuda_optim
