#include "ops/depthwise_conv2d.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu_dispatch.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(depthwise_conv2d);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------

// w (C, 1, KH, KW) -> wt (KH, KW, C): one contiguous channel vector per tap.
template <class T>
std::vector<T> taps_channels_last(const DepthwiseDims& d, const T* w) {
  std::vector<T> wt(size_t(d.KH * d.KW * d.C));  // (KH, KW, C)
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t t = 0; t < d.KH * d.KW; ++t) wt[size_t(t * d.C + c)] = w[c * d.KH * d.KW + t];
  return wt;
}

// Taps s of one kernel row that land inside [0, W) for output column wo: s in [s0, s1).
inline void valid_cols(const DepthwiseDims& d, int64_t wo, int64_t* s0, int64_t* s1) {
  int64_t left = wo * d.sw - d.pw;  // input column of tap 0
  *s0 = std::max<int64_t>(0, -left);
  *s1 = std::min<int64_t>(d.KW, d.W - left);
}

template <class T>
void depthwise_forward_cpu(const DepthwiseDims& d, const T* x, const T* w, const T* b, T* y) {
  const std::vector<T> wt = taps_channels_last(d, w);  // (KH, KW, C)
  const int64_t C = d.C;
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < d.N * d.Ho; ++nh) {
    const int64_t n = nh / d.Ho, ho = nh % d.Ho;
    for (int64_t wo = 0; wo < d.Wo; ++wo) {
      T* yp = y + (nh * d.Wo + wo) * C;  // (C)
      for (int64_t c = 0; c < C; ++c) yp[c] = b ? b[c] : T(0);
      int64_t s0, s1;
      valid_cols(d, wo, &s0, &s1);
      for (int64_t r = 0; r < d.KH; ++r) {
        const int64_t hi = ho * d.sh - d.ph + r;
        if (hi < 0 || hi >= d.H) continue;
        const int64_t row = (n * d.H + hi) * d.W + wo * d.sw - d.pw;  // pixel index of tap 0 (may be < 0)
        for (int64_t s = s0; s < s1; ++s) {
          const T* xp = x + (row + s) * C;               // (C)
          const T* wp = wt.data() + (r * d.KW + s) * C;  // (C)
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) yp[c] += xp[c] * wp[c];
        }
      }
    }
  }
}

// dx by gathering, so every thread owns the input rows it writes.
template <class T>
void depthwise_backward_input_cpu(const DepthwiseDims& d, const T* w, const T* dy, T* dx) {
  const std::vector<T> wt = taps_channels_last(d, w);  // (KH, KW, C)
  const int64_t C = d.C;
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < d.N * d.H; ++nh) {
    const int64_t n = nh / d.H, hi = nh % d.H;
    for (int64_t wi = 0; wi < d.W; ++wi) {
      T* dxp = dx + (nh * d.W + wi) * C;  // (C)
      for (int64_t r = 0; r < d.KH; ++r) {
        const int64_t th = hi + d.ph - r;  // = ho * sh
        if (th < 0 || th % d.sh != 0 || th / d.sh >= d.Ho) continue;
        const int64_t ho = th / d.sh;
        for (int64_t s = 0; s < d.KW; ++s) {
          const int64_t tw = wi + d.pw - s;  // = wo * sw
          if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.Wo) continue;
          const T* dyp = dy + ((n * d.Ho + ho) * d.Wo + tw / d.sw) * C;  // (C)
          const T* wp = wt.data() + (r * d.KW + s) * C;                   // (C)
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) dxp[c] += dyp[c] * wp[c];
        }
      }
    }
  }
}

// ---- CPU fast path: f32, stride 1, C a multiple of 16 ---------------------------------------------
// The image is first copied with its zero padding into a (rows, Wp, C) buffer, so that no tap needs a bounds
// test along the row (rows outside the image are skipped whole). Register blocking: 8 output columns x 16
// channels of accumulators, and the taps of a kernel row in chunks of 8 held in registers; each input vector
// is then loaded once per chunk and used by every (column, tap) pair it meets (up to 8 multiply-adds),
// instead of once per multiply-add. Every output still sums its taps in the reference's order (rows, then
// taps along the row), so the result equals the reference's up to the zero-padding's +0 terms. The backward
// input pass is the same correlation of dy with the flipped kernel: dx[h, w] = sum_{r,s} dy[h + ph - r, w + pw - s] w[r, s].
constexpr int64_t kBlockCols = 8, kLanes = 16, kTapChunk = 8;
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float)), aligned(sizeof(float))));

// 16 channels at p as one vector (by reference: a vector argument or result would change the ABI per clone).
inline const Lanes& lanes_at(const float* p) { return *reinterpret_cast<const Lanes*>(p); }
inline Lanes& lanes_at(float* p) { return *reinterpret_cast<Lanes*>(p); }
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// img (N, H, W, C) -> (N, H, Wp, C): padded column p holds image column p - left, zero where that is outside
// the image (left < 0 drops the first -left image columns, as a padding above KW - 1 does in dx).
std::vector<float> pad_columns(const float* img, int64_t N, int64_t H, int64_t W, int64_t C, int64_t left,
                               int64_t Wp) {
  std::vector<float> out(static_cast<size_t>(N * H * Wp * C), 0.f);
  const int64_t c0 = std::max<int64_t>(0, -left), c1 = std::min(W, Wp - left);  // image columns kept
  if (c1 <= c0) return out;
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < N * H; ++nh)
    std::copy_n(img + (nh * W + c0) * C, (c1 - c0) * C, out.data() + (nh * Wp + c0 + left) * C);
  return out;
}

// acc[j] += sum_{k < kT} row[(j + k) * C] * taps[k * C], j < 8: output column j against taps k of one chunk;
// input vector u = j + k is loaded once for all its pairs.
template <int kT>
__attribute__((always_inline)) inline void row_chunk(Lanes (&acc)[kBlockCols], const float* row, const float* taps,
                                                     int64_t C) {
  Lanes t[kT];
#pragma GCC unroll 8
  for (int k = 0; k < kT; ++k) t[k] = lanes_at(taps + k * C);
#pragma GCC unroll 16
  for (int u = 0; u < kBlockCols + kT - 1; ++u) {
    const Lanes v = lanes_at(row + u * C);
#pragma GCC unroll 8
    for (int j = 0; j < kBlockCols; ++j)
      if (u - j >= 0 && u - j < kT) acc[j] += v * t[u - j];
  }
}

// acc[k] += sum_{i < 8} g[i] * row[(i + k) * C], k < kT: tap k of one chunk against output column i.
template <int kT>
__attribute__((always_inline)) inline void params_chunk(Lanes (&acc)[kTapChunk], const Lanes (&g)[kBlockCols],
                                                        const float* row, int64_t C) {
#pragma GCC unroll 16
  for (int u = 0; u < kBlockCols + kT - 1; ++u) {
    const Lanes v = lanes_at(row + u * C);
#pragma GCC unroll 8
    for (int k = 0; k < kT; ++k)
      if (u - k >= 0 && u - k < kBlockCols) acc[k] += g[u - k] * v;
  }
}

// One output row `ho` of out (Wout, C) (+)= correlation of the padded image in (Hin, Wp, C) with taps
// (KH, KW, C); padded column wo + s holds input column wo + s - pw. out starts from bias (or 0), or from its
// own values when `accumulate`. Needs Wp >= round_up(Wout, 8) + KW - 1.
ENGINE_CPU_CLONES void stride1_row_f32(const float* in, int64_t Hin, int64_t Wp, int64_t C, const float* taps,
                                       int64_t KH, int64_t KW, int64_t ph, const float* bias, bool accumulate,
                                       float* out, int64_t Wout, int64_t ho) {
  for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
    for (int64_t wo0 = 0; wo0 < Wout; wo0 += kBlockCols) {
      const int64_t nb = std::min(kBlockCols, Wout - wo0);
      Lanes acc[kBlockCols];
      const Lanes init = bias && !accumulate ? lanes_at(bias + c0) : Lanes{};
      for (int64_t j = 0; j < kBlockCols; ++j)
        acc[j] = accumulate && j < nb ? lanes_at(out + (wo0 + j) * C + c0) : init;
      for (int64_t r = 0; r < KH; ++r) {
        const int64_t hi = ho - ph + r;
        if (hi < 0 || hi >= Hin) continue;
        const float* row = in + (hi * Wp + wo0) * C + c0;
        const float* trow = taps + r * KW * C + c0;
        int64_t s0 = 0;
        for (; s0 + kTapChunk <= KW; s0 += kTapChunk) row_chunk<kTapChunk>(acc, row + s0 * C, trow + s0 * C, C);
        switch (KW - s0) {  // the last, partial chunk
#define ENGINE_ROW_TAIL(n) \
  case n: row_chunk<n>(acc, row + s0 * C, trow + s0 * C, C); break;
          ENGINE_ROW_TAIL(1) ENGINE_ROW_TAIL(2) ENGINE_ROW_TAIL(3) ENGINE_ROW_TAIL(4) ENGINE_ROW_TAIL(5)
          ENGINE_ROW_TAIL(6) ENGINE_ROW_TAIL(7)
#undef ENGINE_ROW_TAIL
          default: break;
        }
      }
      for (int64_t j = 0; j < nb; ++j) lanes_at(out + (wo0 + j) * C + c0) = acc[j];
    }
  }
}

bool use_stride1_fast_path(const DepthwiseDims& d) { return d.sh == 1 && d.sw == 1 && d.C % kLanes == 0; }

// Padded width for outputs of width Wout and kernels of width KW (stride1_row_f32, stride1_params_row_f32).
int64_t padded_width(int64_t Wout, int64_t KW) { return round_up(Wout, kBlockCols) + KW - 1; }

void depthwise_forward_fast(const DepthwiseDims& d, const float* x, const float* w, const float* b, float* y) {
  const std::vector<float> wt = taps_channels_last(d, w);  // (KH, KW, C)
  const int64_t Wp = padded_width(d.Wo, d.KW);
  const std::vector<float> xp = pad_columns(x, d.N, d.H, d.W, d.C, d.pw, Wp);  // (N, H, Wp, C)
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < d.N * d.Ho; ++nh) {
    const int64_t n = nh / d.Ho, ho = nh % d.Ho;
    stride1_row_f32(xp.data() + n * d.H * Wp * d.C, d.H, Wp, d.C, wt.data(), d.KH, d.KW, d.ph, b, false,
                    y + nh * d.Wo * d.C, d.Wo, ho);
  }
}

void depthwise_backward_input_fast(const DepthwiseDims& d, const float* w, const float* dy, float* dx) {
  const std::vector<float> wt = taps_channels_last(d, w);  // (KH, KW, C)
  std::vector<float> flipped(wt.size());                   // (KH, KW, C), taps reversed in both directions
  const int64_t taps = d.KH * d.KW;
  for (int64_t t = 0; t < taps; ++t)
    std::copy_n(wt.data() + (taps - 1 - t) * d.C, d.C, flipped.data() + t * d.C);
  const int64_t Wp = padded_width(d.W, d.KW);
  const std::vector<float> dyp = pad_columns(dy, d.N, d.Ho, d.Wo, d.C, d.KW - 1 - d.pw, Wp);  // (N, Ho, Wp, C)
#pragma omp parallel for schedule(static)
  for (int64_t nh = 0; nh < d.N * d.H; ++nh) {
    const int64_t n = nh / d.H, hi = nh % d.H;
    stride1_row_f32(dyp.data() + n * d.Ho * Wp * d.C, d.Ho, Wp, d.C, flipped.data(), d.KH, d.KW, d.KH - 1 - d.ph,
                    nullptr, true, dx + nh * d.W * d.C, d.W, hi);
  }
}

// dw over one output row `ho`: part (KH, KW, C) += sum_wo dy[wo] * x[ho - ph + r, wo - pw + s] for every tap,
// with x padded as in stride1_row_f32 (padded column wo + s). 8 taps x 16 channels of accumulators and 8
// columns of dy in registers; each padded x vector is loaded once per (chunk, column block).
ENGINE_CPU_CLONES void stride1_params_row_f32(const float* xp, int64_t H, int64_t Wp, int64_t C, const float* dy,
                                              int64_t Wo, int64_t KH, int64_t KW, int64_t ph, int64_t ho,
                                              float* part) {
  for (int64_t c0 = 0; c0 < C; c0 += kLanes) {
    for (int64_t r = 0; r < KH; ++r) {
      const int64_t hi = ho - ph + r;
      if (hi < 0 || hi >= H) continue;
      const float* row = xp + hi * Wp * C + c0;
      for (int64_t s0 = 0; s0 < KW; s0 += kTapChunk) {
        const int64_t nt = std::min(kTapChunk, KW - s0);
        Lanes acc[kTapChunk] = {};
        for (int64_t wo0 = 0; wo0 < Wo; wo0 += kBlockCols) {
          const int64_t nb = std::min(kBlockCols, Wo - wo0);
          Lanes g[kBlockCols];
          for (int64_t i = 0; i < kBlockCols; ++i) g[i] = i < nb ? lanes_at(dy + (wo0 + i) * C + c0) : Lanes{};
          const float* xr = row + (wo0 + s0) * C;
          switch (nt) {
#define ENGINE_PARAMS_CHUNK(n) \
  case n: params_chunk<n>(acc, g, xr, C); break;
            ENGINE_PARAMS_CHUNK(1) ENGINE_PARAMS_CHUNK(2) ENGINE_PARAMS_CHUNK(3) ENGINE_PARAMS_CHUNK(4)
            ENGINE_PARAMS_CHUNK(5) ENGINE_PARAMS_CHUNK(6) ENGINE_PARAMS_CHUNK(7) ENGINE_PARAMS_CHUNK(8)
#undef ENGINE_PARAMS_CHUNK
            default: break;
          }
        }
        for (int64_t k = 0; k < nt; ++k) {
          float* p = part + (r * KW + s0 + k) * C + c0;
          lanes_at(p) += acc[k];
        }
      }
    }
  }
}

// Adds the per-thread partial sums (nt, KH, KW, C) and (nt, C) into dw (C, KH, KW) and db (C) in thread order,
// so that the result does not depend on scheduling.
template <class T>
void add_thread_partials(int nt, int64_t taps, int64_t C, const std::vector<T>& part_w, const std::vector<T>& part_b,
                         T* dw, T* db) {
  for (int t = 0; t < nt; ++t) {
    if (dw)
      for (int64_t tap = 0; tap < taps; ++tap)
        for (int64_t c = 0; c < C; ++c) dw[c * taps + tap] += part_w[size_t((t * taps + tap) * C + c)];
    if (db)
      for (int64_t c = 0; c < C; ++c) db[c] += part_b[size_t(t * C + c)];
  }
}

// dw and db with per-thread partial sums added in thread order, as the reference below.
void depthwise_backward_params_fast(const DepthwiseDims& d, const float* x, const float* dy, float* dw, float* db) {
  const int64_t C = d.C, taps = d.KH * d.KW;
  const int nt = omp_get_max_threads();
  const int64_t Wp = padded_width(d.Wo, d.KW);
  const std::vector<float> xp = dw ? pad_columns(x, d.N, d.H, d.W, C, d.pw, Wp) : std::vector<float>();  // (N, H, Wp, C)
  std::vector<float> part_w(dw ? size_t(nt * taps * C) : 0, 0.f);  // (nt, KH, KW, C)
  std::vector<float> part_b(db ? size_t(nt * C) : 0, 0.f);         // (nt, C)
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t nh = 0; nh < d.N * d.Ho; ++nh) {
      const int64_t n = nh / d.Ho, ho = nh % d.Ho;
      const float* dyr = dy + nh * d.Wo * C;  // (Wo, C)
      if (db)
        for (int64_t wo = 0; wo < d.Wo; ++wo)
          for (int64_t c = 0; c < C; ++c) part_b[size_t(t * C + c)] += dyr[wo * C + c];
      if (dw)
        stride1_params_row_f32(xp.data() + n * d.H * Wp * C, d.H, Wp, C, dyr, d.Wo, d.KH, d.KW, d.ph, ho,
                               part_w.data() + size_t(t) * taps * C);
    }
  }
  add_thread_partials(nt, taps, C, part_w, part_b, dw, db);
}

// dw and db: each thread sums its output rows into a private (KH, KW, C) buffer; the buffers are then
// added in thread order, so the result does not depend on scheduling.
template <class T>
void depthwise_backward_params_cpu(const DepthwiseDims& d, const T* x, const T* dy, T* dw, T* db) {
  const int64_t C = d.C, taps = d.KH * d.KW;
  const int nt = omp_get_max_threads();
  std::vector<T> part_w(dw ? size_t(nt * taps * C) : 0, T(0));  // (nt, KH, KW, C)
  std::vector<T> part_b(db ? size_t(nt * C) : 0, T(0));         // (nt, C)
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t nh = 0; nh < d.N * d.Ho; ++nh) {
      const int64_t n = nh / d.Ho, ho = nh % d.Ho;
      for (int64_t wo = 0; wo < d.Wo; ++wo) {
        const T* dyp = dy + (nh * d.Wo + wo) * C;  // (C)
        if (db) {
          T* bp = part_b.data() + t * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) bp[c] += dyp[c];
        }
        if (!dw) continue;
        int64_t s0, s1;
        valid_cols(d, wo, &s0, &s1);
        for (int64_t r = 0; r < d.KH; ++r) {
          const int64_t hi = ho * d.sh - d.ph + r;
          if (hi < 0 || hi >= d.H) continue;
          const int64_t row = (n * d.H + hi) * d.W + wo * d.sw - d.pw;  // pixel index of tap 0 (may be < 0)
          for (int64_t s = s0; s < s1; ++s) {
            const T* xp = x + (row + s) * C;                                   // (C)
            T* ap = part_w.data() + ((int64_t(t) * d.KH + r) * d.KW + s) * C;  // (C)
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) ap[c] += dyp[c] * xp[c];
          }
        }
      }
    }
  }
  add_thread_partials(nt, taps, C, part_w, part_b, dw, db);
}

// ---- dispatch -----------------------------------------------------------------------------------

void forward(const DepthwiseDims& d, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    depthwise_forward_cuda(d, x.data<float>(), w.data<float>(), data_or_null<float>(b), y.data<float>());
#endif
    return;
  }
  if (x.dtype() == DType::f32 && use_stride1_fast_path(d)) {
    depthwise_forward_fast(d, x.data<float>(), w.data<float>(), data_or_null<float>(b), y.data<float>());
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    depthwise_forward_cpu<T>(d, x.data<T>(), w.data<T>(), data_or_null<T>(b), y.data<T>());
  });
}

void backward(const DepthwiseDims& d, const Tensor& x, const Tensor& w, const Tensor& dy, Tensor& dx, Tensor& dw,
              Tensor& db) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    depthwise_backward_cuda(d, x.data<float>(), w.data<float>(), dy.data<float>(), data_or_null<float>(dx),
                            data_or_null<float>(dw), data_or_null<float>(db));
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (dx.defined() && std::is_same_v<T, float> && use_stride1_fast_path(d))
      depthwise_backward_input_fast(d, w.data<float>(), dy.data<float>(), dx.data<float>());
    else if (dx.defined())
      depthwise_backward_input_cpu<T>(d, w.data<T>(), dy.data<T>(), dx.data<T>());
    if ((dw.defined() || db.defined()) && std::is_same_v<T, float> && use_stride1_fast_path(d))
      depthwise_backward_params_fast(d, x.data<float>(), dy.data<float>(), data_or_null<float>(dw),
                                     data_or_null<float>(db));
    else if (dw.defined() || db.defined())
      depthwise_backward_params_cpu<T>(d, x.data<T>(), dy.data<T>(), data_or_null<T>(dw), data_or_null<T>(db));
  });
}

}  // namespace

Tensor depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const DepthwiseParams& p) {
  check_float_op("depthwise_conv2d", {&x, &w, &b});
  USER_CHECK(x.dim() == 4, "depthwise_conv2d: x must be (N, H, W, C), got ", shape_str(x.shape()));
  USER_CHECK(w.dim() == 4 && w.size(1) == 1, "depthwise_conv2d: w must be (C, 1, kh, kw), got ",
             shape_str(w.shape()));
  USER_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
             "depthwise_conv2d: strides must be >= 1 and paddings >= 0, got stride (", p.stride_h, ",", p.stride_w,
             ") pad (", p.pad_h, ",", p.pad_w, ")");
  DepthwiseDims d{};
  d.N = x.size(0), d.H = x.size(1), d.W = x.size(2), d.C = x.size(3);
  d.KH = w.size(2), d.KW = w.size(3);
  d.sh = p.stride_h, d.sw = p.stride_w, d.ph = p.pad_h, d.pw = p.pad_w;
  check_shape(w, {d.C, 1, d.KH, d.KW}, "depthwise_conv2d w");
  if (b.defined()) check_shape(b, {d.C}, "depthwise_conv2d b");
  USER_CHECK(d.KH >= 1 && d.KW >= 1 && d.H + 2 * d.ph >= d.KH && d.W + 2 * d.pw >= d.KW,
             "depthwise_conv2d: kernel (", d.KH, ",", d.KW, ") larger than the padded input (", d.H + 2 * d.ph, ",",
             d.W + 2 * d.pw, ")");
  d.Ho = (d.H + 2 * d.ph - d.KH) / d.sh + 1;
  d.Wo = (d.W + 2 * d.pw - d.KW) / d.sw + 1;

  Tensor y = Tensor::empty({d.N, d.Ho, d.Wo, d.C}, x.dtype(), x.device());  // (N, Ho, Wo, C)
  forward(d, x, w, b, y);
  if (autograd::needs_grad({&x, &w, &b})) {
    y.set_requires_grad(true);
    autograd::record([d, x, w, b, y]() {
      Tensor dy = y.grad();  // (N, Ho, Wo, C)
      if (!dy.defined()) return;
      Tensor dx = grad_if_required(x);  // (N, H, W, C)
      Tensor dw = grad_if_required(w);  // (C, 1, KH, KW)
      Tensor db = grad_if_required(b);  // (C)
      backward(d, x, w, dy, dx, dw, db);
    });
  }
  return y;
}

}  // namespace engine::ops
