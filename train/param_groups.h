// Optimizer parameter groups, decided from parameter metadata as timm's param_groups_weight_decay and
// DCLS-Audio's optim_factory.get_parameter_groups do (shared/spec/dcls.md §C.1), tested in this order:
//   no_decay       ndim <= 1, or a bias                       weight decay 0,  lr x 1
//   no_decay_dcls  DCLS positions P and sigmas SIG            weight decay 0,  lr x dcls_lr_scale (5)
//   decay          everything else (conv/linear/DCLS weights, FastViT's (C,1,1) layer scales)
//                                                              weight decay wd, lr x 1
// The role comes from register_parameter (engine/module.h), never from the name.
#pragma once
#include <string>
#include <vector>

#include "engine/module.h"

namespace engine::train {

struct ParamGroup {
  std::string name;  // "decay" | "no_decay" | "no_decay_dcls"
  double weight_decay;
  double lr_scale;
};

struct ParamGrouping {
  std::vector<ParamGroup> groups;  // always the three above, in that order (ids 0, 1, 2)
  std::vector<int> group_of;       // per named_parameters() entry: its group id
};

ParamGrouping paper_param_groups(const Module& m, double weight_decay, double dcls_lr_scale);

}  // namespace engine::train
