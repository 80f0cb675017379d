// Small helpers shared by op implementations.
#pragma once
#include <initializer_list>

#include "engine/tensor.h"

namespace engine::ops {

// CUDA kernels run in f32 (bf16 comes with the mixed-precision work); CPU runs f32 and f64.
inline void check_float_op(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (t->is_cuda())
      USER_CHECK(t->dtype() == DType::f32, op, ": CUDA tensors must be f32, got ", dtype_name(t->dtype()));
    else
      USER_CHECK(t->dtype() == DType::f32 || t->dtype() == DType::f64, op, ": CPU tensors must be f32 or f64, got ",
                 dtype_name(t->dtype()));
  }
  check_same_device_dtype(op, ts);
}

// The gradient buffer of t if t requires grad, else an undefined tensor.
inline Tensor grad_if_required(const Tensor& t) { return t.defined() && t.requires_grad() ? t.grad_or_zeros() : Tensor(); }

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace engine::ops
