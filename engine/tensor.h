// Tensor: a handle to shared TensorImpl (shape, dtype, device, contiguous storage, autograd slot).
// Copies of a Tensor alias the same impl; views (reshape) share storage with a new impl.
//
// Dimension letters used in shape comments across the engine:
//   N batch, C channels (Ci in / Co out), H frequency rows (mel), W time frames, K kernel elements,
//   T tokens, D head width, G groups, M/K/N matrix dims in matmul.
// Activations are channels-last: (N, H, W, C).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/memory.h"

namespace engine {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes into storage
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // same shape/dtype/device; accumulated by backward
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::CPU);
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::CPU);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(impl().shape); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device; }
  bool is_cuda() const { return device() == Device::CUDA; }

  void* raw_data() const { return static_cast<char*>(impl().storage->data) + impl().offset; }
  template <class T>
  T* data() const {
    ENGINE_CHECK(dtype_of<T>() == dtype(), "tensor holds ", dtype_name(dtype()), ", accessed as ", dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw_data());
  }

  Tensor to(Device device) const;     // copy (or this tensor if already there)
  Tensor to(DType dtype) const;       // converting copy between floating types (or this tensor)
  Tensor clone() const;               // deep copy, no autograd history
  Tensor view(const Shape& shape) const;  // shares storage, no autograd (see ops::reshape)
  void copy_(const Tensor& src);      // same shape and dtype, any devices
  void zero_();
  template <class T>
  std::vector<T> to_vector() const;   // host copy of the elements
  template <class T>
  T item() const;

  // Autograd.
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on) {
    impl().requires_grad = on;
    return *this;
  }
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& g) const;
  // The gradient buffer, created as zeros on first use. Const: it changes the shared impl, not the handle.
  Tensor grad_or_zeros() const;

  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl& impl() const {
    ENGINE_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Raises a UserError naming `what` unless t has the expected shape.
void check_shape(const Tensor& t, const Shape& expected, const char* what);
// Raises unless all tensors share a device and a dtype.
void check_same_device_dtype(const char* op, std::initializer_list<const Tensor*> ts);

}  // namespace engine
