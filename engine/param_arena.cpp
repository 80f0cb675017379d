#include "engine/param_arena.h"

#include <algorithm>
#include <cstdint>

namespace engine {

namespace {
constexpr int64_t kAlignElems = 64 / sizeof(float);  // 64-byte boundaries: cache lines, vector loads
int64_t round_up(int64_t n) { return (n + kAlignElems - 1) / kAlignElems * kAlignElems; }
}  // namespace

ParameterArena::ParameterArena(Module& m, Device d, int state_slots, const std::vector<int>& groups)
    : state_slots_(state_slots) {
  USER_CHECK(state_slots >= 0, "ParameterArena: state_slots must be >= 0, got ", state_slots);
  NamedTensors unordered = m.named_parameters();
  ENGINE_CHECK(groups.empty() || groups.size() == unordered.size(), "ParameterArena: ", groups.size(),
               " group ids for ", unordered.size(), " parameters");
  const int num_groups = groups.empty() ? 1 : *std::max_element(groups.begin(), groups.end()) + 1;
  NamedTensors params;
  for (int g = 0; g < num_groups; ++g) {
    const int64_t begin = region_numel_;
    for (size_t i = 0; i < unordered.size(); ++i) {
      if ((groups.empty() ? 0 : groups[i]) != g) continue;
      const auto& [name, p] = unordered[i];
      USER_CHECK(p.dtype() == DType::f32, "ParameterArena: parameter ", name, " is ", dtype_name(p.dtype()),
                 "; the arena holds f32 parameters");
      segments_.push_back({name, region_numel_, p.numel(), p.shape(), g});
      region_numel_ += round_up(p.numel());
      params.push_back(unordered[i]);
    }
    group_ranges_.push_back({begin, region_numel_ - begin});
  }
  const size_t region_bytes = size_t(region_numel_) * sizeof(float);
  const size_t total = region_bytes * size_t(2 + state_slots);
  storage_ = std::make_shared<Storage>(total, d);
  ENGINE_CHECK(reinterpret_cast<uintptr_t>(storage_->data) % 64 == 0, "arena storage is not 64-byte aligned");
  fill_zero_bytes(storage_->data, d, total);  // padding and optimizer state start at zero

  char* base = static_cast<char*>(storage_->data);
  for (size_t i = 0; i < params.size(); ++i) {
    TensorImpl& impl = params[i].second.impl();
    const Tensor p = params[i].second;  // (shape of the parameter)
    const size_t value_off = size_t(segments_[i].offset) * sizeof(float);
    const size_t grad_off = region_bytes + value_off;
    copy_bytes(base + value_off, d, p.raw_data(), p.device(), p.nbytes());
    if (impl.grad) copy_bytes(base + grad_off, d, p.grad().raw_data(), p.grad().device(), p.nbytes());

    // Rebind in place: the impl (held by layers, aliased under several names) stays the same object.
    auto grad = std::make_shared<TensorImpl>();
    grad->storage = storage_;
    grad->offset = grad_off;
    grad->shape = impl.shape;
    grad->dtype = DType::f32;
    impl.storage = storage_;
    impl.offset = value_off;
    impl.grad = std::move(grad);
  }
}

Tensor ParameterArena::region(int index) const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage_;
  impl->offset = size_t(index) * size_t(region_numel_) * sizeof(float);
  impl->shape = {region_numel_};
  impl->dtype = DType::f32;
  return Tensor(std::move(impl));
}

ArenaRange ParameterArena::group_range(int g) const {
  ENGINE_CHECK(g >= 0 && g < num_groups(), "group ", g, " of an arena with ", num_groups(), " groups");
  return group_ranges_[size_t(g)];
}

Tensor ParameterArena::state(int k) const {
  ENGINE_CHECK(k >= 0 && k < state_slots_, "state slot ", k, " of an arena with ", state_slots_, " slots");
  return region(2 + k);
}

Tensor ParameterArena::state_of(int k, size_t i) const {
  ENGINE_CHECK(i < segments_.size(), "segment ", i, " of ", segments_.size());
  auto impl = std::make_shared<TensorImpl>(*state(k).impl_ptr());
  impl->offset += size_t(segments_[i].offset) * sizeof(float);
  impl->shape = segments_[i].shape;
  return Tensor(std::move(impl));
}

void ParameterArena::zero_grad() {
  const size_t region_bytes = size_t(region_numel_) * sizeof(float);
  fill_zero_bytes(static_cast<char*>(storage_->data) + region_bytes, device(), region_bytes);
}

}  // namespace engine
