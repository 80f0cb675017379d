#include "engine/tensor_cast.h"

namespace engine {

namespace {
double load(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::bf16: return double(float(static_cast<const bf16*>(p)[i]));
    case DType::i32: return static_cast<const int32_t*>(p)[i];
    case DType::i64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::u8: return static_cast<const uint8_t*>(p)[i];
  }
  return 0;
}
void store(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = float(v); break;
    case DType::f64: static_cast<double*>(p)[i] = v; break;
    case DType::bf16: static_cast<bf16*>(p)[i] = bf16(float(v)); break;
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}
}  // namespace

void cast_into(const Tensor& src, Tensor& dst) {
  ENGINE_CHECK(src.shape() == dst.shape() && src.device() == dst.device(), "cast between mismatched tensors");
  int64_t n = src.numel();
  if (src.device() == Device::CUDA) {
#ifdef ENGINE_CUDA
    USER_CHECK(is_floating(src.dtype()) && is_floating(dst.dtype()), "CUDA casts are between f32, f64 and bf16; got ",
               dtype_name(src.dtype()), " to ", dtype_name(dst.dtype()));
    cast_cuda(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), n);
    return;
#endif
  }
  const void* s = src.raw_data();
  void* d = dst.raw_data();
  for (int64_t i = 0; i < n; ++i) store(d, dst.dtype(), i, load(s, src.dtype(), i));
}

}  // namespace engine
