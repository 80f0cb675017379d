// Module: the base of every layer and model. Holds parameters, buffers and child modules under the
// names PyTorch gives them, so that state dicts match the reference checkpoints key for key.
//
//   parameter  - trainable tensor (requires_grad), e.g. conv weight (Co, Ci/groups, kh, kw)
//   buffer     - state that is saved but not trained: BatchNorm running_mean/var (C), num_batches_tracked i64 []
//   child      - a sub-module; its names get "child." prefixes
//
// Names follow PyTorch exactly:
//   named_parameters()/named_buffers(): modules in pre-order (own entries in registration order, then
//     children), each module and each tensor once; a tensor registered under several names (same
//     TensorImpl, e.g. DCLS P/SIG shared by all blocks of a stage) appears under its first name.
//   state_dict(): per module its parameters, then its buffers, then its children; no deduplication, so an
//     aliased tensor appears under every name (PyTorch's model.state_dict()).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace engine {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What a parameter is, declared where it is registered: optimizers form their groups from it (and from
// the shape), never from the name (train/param_groups.h).
enum class ParamRole { weight, bias, dcls_position, dcls_sigma };

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Marks t as requiring grad; returns the same handle (layers keep it as a member).
  Tensor register_parameter(const std::string& name, Tensor t, ParamRole role = ParamRole::weight);
  // Never requires grad.
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

  NamedTensors named_parameters() const;
  // The role of each entry of named_parameters(), in the same order (an alias: its first registration's).
  std::vector<ParamRole> parameter_roles() const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;
  // Sum of numel over the unique parameters: sum(p.numel() for p in model.parameters()).
  int64_t num_parameters() const;

  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer to d in place: the TensorImpl keeps its identity and gets new
  // storage, so aliases stay aliases and handles held by layers stay valid. Gradients are dropped.
  // Parameters packed into a ParameterArena leave it when moved.
  void to(Device d);

  // Copies values into the existing tensors (their devices are kept). Every key of state_dict() must be
  // given, except that an alias group is satisfied by any one of its names (several present: they must
  // be exactly equal) and num_batches_tracked may be absent. Floating types are converted to the
  // tensor's type; integer buffers must match. Unknown keys, missing keys, shape or dtype mismatches
  // raise a UserError naming the key; nothing is modified then.
  void load_state_dict(const NamedTensors& sd);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name) const;
  void collect_state(const std::string& prefix, NamedTensors& out) const;
  // Pre-order walk over unique modules; f(prefix, module).
  template <class F>
  void walk(const std::string& prefix, std::vector<const Module*>& seen, F&& f) const;
  NamedTensors unique_named(bool parameters) const;

  NamedTensors params_;
  std::vector<ParamRole> param_roles_;  // parallel to params_
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace engine
