// Small helpers shared by op implementations.
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

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

// Column sums over the M rows of a channels-last (M, C) layout: out[k * C + c] += sum over rows i of term k
// of (i, c), for k < K. add_row(i, acc) adds row i's K terms into acc (K, C). Rows are taken in fixed blocks
// of 256, row by row (the inner loop over c is contiguous), and the blocks' partial sums are added in block
// order: one pass over memory, and the same result for any thread count.
template <class Acc, class AddRow>
void sum_rows_blocked(int64_t M, int64_t C, int K, Acc* out, AddRow&& add_row) {
  constexpr int64_t kRowBlock = 256;
  const int64_t blocks = (M + kRowBlock - 1) / kRowBlock, width = int64_t(K) * C;
  thread_local std::vector<Acc> partial;  // grows to the largest (blocks, K, C) seen, then is reused
  if (partial.size() < size_t(blocks * width)) partial.resize(size_t(blocks * width));
  Acc* part = partial.data();
#pragma omp parallel for if (M * width > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    Acc* acc = part + b * width;
    std::fill(acc, acc + width, Acc(0));
    for (int64_t i = b * kRowBlock, end = std::min(M, (b + 1) * kRowBlock); i < end; ++i) add_row(i, acc);
  }
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t j = 0; j < width; ++j) out[j] += part[b * width + j];
}

}  // namespace engine::ops
