// Parameter initialisation from a seed, reproducible on every platform: values come from Philox
// (engine/rng.h), not from std:: distributions whose output differs between standard libraries.
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

namespace engine {

// t ~ U(lo, hi), drawn on the host and copied to t's device.
void init_uniform(Tensor& t, double lo, double hi, Generator& gen);
// t ~ N(mean, std) via Box-Muller; PyTorch's trunc_normal_(std=.02) cuts at +-2 absolute, i.e. never in practice.
void init_normal(Tensor& t, double mean, double std, Generator& gen);
void init_constant(Tensor& t, double value);

}  // namespace engine
