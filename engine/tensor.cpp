#include "engine/tensor.h"

#include <sstream>

#include "engine/tensor_cast.h"

namespace engine {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    ENGINE_CHECK(d >= 0, "negative dimension in ", shape_str(s));
    n *= d;
  }
  return n;
}

int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  ENGINE_CHECK(d >= 0 && d < n, "dimension ", d, " out of range for shape ", shape_str(shape()));
  return shape()[size_t(d)];
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

template <class T>
static void fill_host(void* p, int64_t n, double v) {
  T* d = static_cast<T*>(p);
  for (int64_t i = 0; i < n; ++i) d[i] = T(v);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor host = empty(shape, dtype, Device::CPU);
  int64_t n = host.numel();
  switch (dtype) {
    case DType::f32: fill_host<float>(host.raw_data(), n, value); break;
    case DType::f64: fill_host<double>(host.raw_data(), n, value); break;
    case DType::bf16: {
      bf16* d = host.data<bf16>();
      for (int64_t i = 0; i < n; ++i) d[i] = bf16(float(value));
      break;
    }
    case DType::i32: fill_host<int32_t>(host.raw_data(), n, value); break;
    case DType::i64: fill_host<int64_t>(host.raw_data(), n, value); break;
    case DType::u8: fill_host<uint8_t>(host.raw_data(), n, value); break;
  }
  return host.to(device);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  ENGINE_CHECK(int64_t(values.size()) == shape_numel(shape), values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>(), device);
  copy_bytes(t.raw_data(), device, values.data(), Device::CPU, values.size() * sizeof(T));
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape(), dtype(), device);
  copy_bytes(t.raw_data(), device, raw_data(), this->device(), nbytes());
  return t;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor t = empty(shape(), dt, device());
  cast_into(*this, t);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  copy_bytes(t.raw_data(), device(), raw_data(), device(), nbytes());
  return t;
}

Tensor Tensor::view(const Shape& new_shape) const {
  ENGINE_CHECK(shape_numel(new_shape) == numel(), "view ", shape_str(new_shape), " of a tensor of shape ", shape_str(shape()));
  auto v = std::make_shared<TensorImpl>();
  v->storage = impl().storage;
  v->offset = impl().offset;
  v->shape = new_shape;
  v->dtype = dtype();
  return Tensor(std::move(v));
}

void Tensor::copy_(const Tensor& src) {
  ENGINE_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_ from ", shape_str(src.shape()), " ",
        dtype_name(src.dtype()), " into ", shape_str(shape()), " ", dtype_name(dtype()));
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
}

void Tensor::zero_() { fill_zero_bytes(raw_data(), device(), nbytes()); }

template <class T>
std::vector<T> Tensor::to_vector() const {
  ENGINE_CHECK(dtype_of<T>() == dtype(), "to_vector<", dtype_name(dtype_of<T>()), "> of a ", dtype_name(dtype()), " tensor");
  std::vector<T> out(static_cast<size_t>(numel()));
  copy_bytes(out.data(), Device::CPU, raw_data(), device(), nbytes());
  return out;
}

template <class T>
T Tensor::item() const {
  ENGINE_CHECK(numel() == 1, "item() of a tensor of shape ", shape_str(shape()));
  return to_vector<T>()[0];
}

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined()) {
    ENGINE_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), "gradient ",
          shape_str(g.shape()), " does not match tensor ", shape_str(shape()));
  }
  impl().grad = g.impl_ptr();
}

Tensor Tensor::grad_or_zeros() const {
  if (!impl().grad) impl().grad = zeros(shape(), dtype(), device()).impl_ptr();
  return Tensor(impl().grad);
}

void check_shape(const Tensor& t, const Shape& expected, const char* what) {
  USER_CHECK(t.shape() == expected, what, ": expected shape ", shape_str(expected), ", got ", shape_str(t.shape()));
}

void check_same_device_dtype(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    USER_CHECK(t->device() == first->device(), op, ": inputs on different devices (", device_name(first->device()),
               " and ", device_name(t->device()), ")");
    USER_CHECK(t->dtype() == first->dtype(), op, ": inputs of different dtypes (", dtype_name(first->dtype()), " and ",
               dtype_name(t->dtype()), ")");
  }
}

#define INSTANTIATE(T)                                                                      \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device);      \
  template std::vector<T> Tensor::to_vector<T>() const;                                     \
  template T Tensor::item<T>() const;
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16)
INSTANTIATE(int32_t)
INSTANTIATE(int64_t)
INSTANTIATE(uint8_t)
#undef INSTANTIATE

}  // namespace engine
