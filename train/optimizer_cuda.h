// CUDA side of train/optimizer.h (train/optimizer.cu). Pointers are device pointers into the arena.
#pragma once
#ifdef ENGINE_CUDA
#include <cstdint>
#include <vector>

#include "train/optimizer_math.h"

namespace engine::train::cuda_optim {

// Whole-range AdamW (one launch).
void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars& s);

// A tensor of a LAMB group, as offsets relative to the start of each region.
struct LambTensor {
  int64_t offset, numel;
};

// Device tables and scratch for LAMB; built once per optimizer, no allocation per step.
class LambWorkspace {
 public:
  // groups[i]: the tensors of group i.
  explicit LambWorkspace(const std::vector<std::vector<LambTensor>>& groups);
  ~LambWorkspace();
  LambWorkspace(const LambWorkspace&) = delete;
  LambWorkspace& operator=(const LambWorkspace&) = delete;

  // clip = max(||g[0, n)|| / max_norm, 1), kept on the device.
  void compute_clip(const float* g, int64_t n, float max_norm);
  // One LAMB update of group `group` (trust ratio per tensor when `trust`), reading the clip on the device.
  void update_group(int group, float* p, const float* g, float* m, float* v, const AdamScalars& s, bool trust);

 private:
  struct Impl;
  Impl* impl_;
};

// ema = decay ema + (1 - decay) p over n elements.
void ema_range(float* ema, const float* p, int64_t n, float decay);

}  // namespace engine::train::cuda_optim
#endif
