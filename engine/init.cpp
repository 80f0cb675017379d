#include "engine/init.h"

#include <cmath>
#include <vector>

namespace engine {

namespace {
void fill_from_host(Tensor& t, const std::vector<double>& v) {
  Tensor host = Tensor::from_vector(v, t.shape()).to(t.dtype());
  t.copy_(host.to(t.device()));
}
}  // namespace

void init_uniform(Tensor& t, double lo, double hi, Generator& gen) {
  uint64_t offset = gen.next_offset();
  std::vector<double> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = lo + (hi - lo) * philox_uniform(gen.seed, offset, i);
  fill_from_host(t, v);
}

void init_normal(Tensor& t, double mean, double std, Generator& gen) {
  uint64_t offset = gen.next_offset();
  std::vector<double> v(size_t(t.numel()));
  const double two_pi = 6.283185307179586;
  for (size_t i = 0; i < v.size(); ++i) {
    Philox4 r = philox_draw(gen.seed, offset, i);
    double u1 = (double(r.v[0]) + 1.0) / 4294967296.0;  // (0, 1]: log is finite
    double u2 = double(r.v[1]) / 4294967296.0;
    v[i] = mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
  }
  fill_from_host(t, v);
}

void init_constant(Tensor& t, double value) { t.copy_(Tensor::full(t.shape(), value, t.dtype(), t.device())); }

}  // namespace engine
