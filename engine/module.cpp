#include "engine/module.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace engine {

void Module::check_new_name(const std::string& name) const {
  ENGINE_CHECK(!name.empty() && name.find('.') == std::string::npos, "invalid module attribute name '", name, "'");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& kv) { return kv.first == name; });
  };
  ENGINE_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), "attribute '", name, "' registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, ParamRole role) {
  check_new_name(name);
  ENGINE_CHECK(t.defined(), "parameter '", name, "' is undefined");
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  param_roles_.push_back(role);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  ENGINE_CHECK(t.defined(), "buffer '", name, "' is undefined");
  t.set_requires_grad(false);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name);
  ENGINE_CHECK(m, "child module '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

// PyTorch's named_modules(): pre-order, a module reachable under several names is visited once.
template <class F>
void Module::walk(const std::string& prefix, std::vector<const Module*>& seen, F&& f) const {
  if (std::find(seen.begin(), seen.end(), this) != seen.end()) return;
  seen.push_back(this);
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->walk(prefix + name + ".", seen, f);
}

NamedTensors Module::unique_named(bool parameters) const {
  NamedTensors out;
  std::unordered_set<const TensorImpl*> seen_tensors;
  std::vector<const Module*> seen_modules;
  walk("", seen_modules, [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : parameters ? m.params_ : m.buffers_)
      if (seen_tensors.insert(t.impl_ptr().get()).second) out.emplace_back(prefix + name, t);
  });
  return out;
}

NamedTensors Module::named_parameters() const { return unique_named(true); }

std::vector<ParamRole> Module::parameter_roles() const {
  std::vector<ParamRole> out;
  std::unordered_set<const TensorImpl*> seen_tensors;
  std::vector<const Module*> seen_modules;
  walk("", seen_modules, [&](const std::string&, const Module& m) {
    for (size_t i = 0; i < m.params_.size(); ++i)
      if (seen_tensors.insert(m.params_[i].second.impl_ptr().get()).second) out.push_back(m.param_roles_[i]);
  });
  return out;
}
NamedTensors Module::named_buffers() const { return unique_named(false); }

void Module::collect_state(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, t] : params_) out.emplace_back(prefix + name, t);
  for (const auto& [name, t] : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_state("", out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_) kv.second->train(on);
}

void Module::to(Device d) {
  NamedTensors all = named_parameters();
  for (auto& kv : named_buffers()) all.push_back(kv);
  for (auto& [name, t] : all) {
    if (t.device() == d) continue;
    TensorImpl& impl = t.impl();
    auto storage = std::make_shared<Storage>(t.nbytes(), d);
    copy_bytes(storage->data, d, t.raw_data(), t.device(), t.nbytes());
    impl.storage = std::move(storage);
    impl.offset = 0;
    impl.grad.reset();
  }
}

namespace {

bool is_num_batches_tracked(const std::string& key) {
  const std::string leaf = "num_batches_tracked";
  return key == leaf ||
         (key.size() > leaf.size() && key.compare(key.size() - leaf.size() - 1, std::string::npos, "." + leaf) == 0);
}

// The value to copy into `dst` for key `key`: src converted to dst's dtype, after the shape/dtype checks.
Tensor checked_value(const std::string& key, const Tensor& src, const Tensor& dst) {
  USER_CHECK(src.defined(), "load_state_dict: key ", key, " holds an undefined tensor");
  USER_CHECK(src.shape() == dst.shape(), "key ", key, ": expected shape ", shape_str(dst.shape()), ", found ",
             shape_str(src.shape()));
  if (src.dtype() == dst.dtype()) return src;
  USER_CHECK(is_floating(src.dtype()) && is_floating(dst.dtype()), "key ", key, ": expected dtype ",
             dtype_name(dst.dtype()), ", found ", dtype_name(src.dtype()));
  return src.to(dst.dtype());
}

bool same_values(const Tensor& a, const Tensor& b) {
  Tensor ha = a.to(Device::CPU), hb = b.to(Device::CPU);
  return std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

}  // namespace

void Module::load_state_dict(const NamedTensors& sd) {
  NamedTensors expected = state_dict();
  std::unordered_map<std::string, const Tensor*> given;
  for (const auto& [key, t] : sd)
    USER_CHECK(given.emplace(key, &t).second, "load_state_dict: key ", key, " given twice");

  std::unordered_set<std::string> known;
  for (const auto& kv : expected) known.insert(kv.first);
  std::vector<std::string> unknown;
  for (const auto& kv : sd)
    if (!known.count(kv.first)) unknown.push_back(kv.first);
  if (!unknown.empty()) {
    user_error("load_state_dict: unexpected key ", unknown[0],
               unknown.size() > 1 ? " (and " + std::to_string(unknown.size() - 1) + " more unexpected keys)" : "");
  }

  // Alias groups (one TensorImpl under several names), in state-dict order.
  struct Group {
    Tensor dst;
    std::vector<std::string> names;
  };
  std::vector<Group> groups;
  std::unordered_map<const TensorImpl*, size_t> group_of;
  for (const auto& [key, t] : expected) {
    auto [it, fresh] = group_of.emplace(t.impl_ptr().get(), groups.size());
    if (fresh) groups.push_back({t, {}});
    groups[it->second].names.push_back(key);
  }

  // Validate everything before copying anything: a failed load leaves the module unchanged.
  std::vector<std::pair<Tensor, Tensor>> copies;  // (dst, value)
  std::vector<std::string> missing;
  for (const Group& g : groups) {
    Tensor value;
    std::string value_key;
    for (const std::string& key : g.names) {
      auto it = given.find(key);
      if (it == given.end()) continue;
      Tensor v = checked_value(key, *it->second, g.dst);
      if (!value.defined()) {
        value = v;
        value_key = key;
      } else {
        USER_CHECK(same_values(value, v), "load_state_dict: keys ", value_key, " and ", key,
                   " name the same shared tensor but hold different values");
      }
    }
    if (value.defined()) {
      copies.emplace_back(g.dst, value);
    } else if (!std::all_of(g.names.begin(), g.names.end(), is_num_batches_tracked)) {
      missing.push_back(g.names[0]);
    }
  }
  if (!missing.empty()) {
    user_error("load_state_dict: missing key ", missing[0],
               missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more missing keys)" : "");
  }
  for (auto& [dst, value] : copies)
    if (!dst.is_same(value)) dst.copy_(value);
}

}  // namespace engine
