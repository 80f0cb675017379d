#include "train/param_groups.h"

namespace engine::train {

ParamGrouping paper_param_groups(const Module& m, double weight_decay, double dcls_lr_scale) {
  enum { decay = 0, no_decay = 1, no_decay_dcls = 2 };
  ParamGrouping out;
  out.groups = {{"decay", weight_decay, 1.0}, {"no_decay", 0.0, 1.0}, {"no_decay_dcls", 0.0, dcls_lr_scale}};
  const NamedTensors params = m.named_parameters();
  const std::vector<ParamRole> roles = m.parameter_roles();
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamRole role = roles[i];
    if (params[i].second.dim() <= 1 || role == ParamRole::bias)
      out.group_of.push_back(no_decay);
    else if (role == ParamRole::dcls_position || role == ParamRole::dcls_sigma)
      out.group_of.push_back(no_decay_dcls);
    else
      out.group_of.push_back(decay);
  }
  return out;
}

}  // namespace engine::train
