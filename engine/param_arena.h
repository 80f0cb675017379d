// ParameterArena: parameters, gradients and optimizer state in one allocation.
//
// Layout (f32 elements; R = region_numel(), every tensor starts on a 64-byte boundary):
//   [ values (R) | grads (R) | state slot 0 (R) | state slot 1 (R) | ... ]
//   each region: param 0 | pad | param 1 | pad | ...   (same offsets in every region)
//   parameters are laid out group by group (optimizer groups, train/param_groups.h), so that each group
//   is one contiguous range of every region and an optimizer updates a group in one pass.
//
// Construction copies the module's unique parameters (named_parameters(): aliases once) into the values
// region and rebinds each parameter's TensorImpl to its place there, so every handle a layer holds now
// reads and writes the arena. Each parameter's grad becomes a view into the grads region: autograd
// accumulates (+=) straight into it, and zero_grad() is one memset. Optimizers run over the flat views
// (values(), grads(), state(k)) or per segment. Padding and state start at zero and padding stays zero as
// long as updates are elementwise and gradients are only accumulated.
//
// Rules: do not replace a parameter's grad (set_grad) while the arena is in use; Module::to() moves
// parameters out of the arena. Buffers are not touched (move the module to the device first).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/module.h"

namespace engine {

struct ArenaSegment {
  std::string name;  // first name in named_parameters()
  int64_t offset;    // elements from the start of each region; a multiple of 16 (64 bytes)
  int64_t numel;
  Shape shape;
  int group;         // optimizer group, 0 when the arena was built without groups
};

struct ArenaRange {
  int64_t offset;  // elements from the start of each region
  int64_t numel;   // including the padding between the group's tensors (which stays zero)
};

class ParameterArena {
 public:
  // All parameters must be f32. Existing gradients are copied into the grads region. `groups`: one group
  // id in [0, G) per named_parameters() entry; empty puts every parameter in group 0.
  ParameterArena(Module& m, Device d, int state_slots, const std::vector<int>& groups = {});

  Tensor values() const { return region(0); }   // (R,)
  Tensor grads() const { return region(1); }    // (R,)
  Tensor state(int k) const;                    // (R,), k in [0, state_slots)
  // Segment i of state slot k, as a tensor of the parameter's shape sharing the arena's storage.
  Tensor state_of(int k, size_t i) const;
  void zero_grad();

  // In layout order: by group, then in named_parameters() order.
  const std::vector<ArenaSegment>& segments() const { return segments_; }
  int num_groups() const { return int(group_ranges_.size()); }
  ArenaRange group_range(int g) const;
  int64_t region_numel() const { return region_numel_; }
  int state_slots() const { return state_slots_; }
  Device device() const { return storage_->device; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

 private:
  Tensor region(int index) const;

  std::shared_ptr<Storage> storage_;
  std::vector<ArenaSegment> segments_;
  std::vector<ArenaRange> group_ranges_;
  int64_t region_numel_ = 0;
  int state_slots_ = 0;
};

}  // namespace engine
