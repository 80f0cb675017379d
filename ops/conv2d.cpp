#include "ops/conv2d.h"

#include <cblas.h>

#include <climits>
#include <type_traits>
#include <vector>

#include "engine/autograd.h"
#include "ops/common.h"
#include "ops/registry.h"

ENGINE_REGISTER_OP(conv2d);

namespace engine::ops {

namespace {

// ---- CPU reference -------------------------------------------------------------------------------
// Per group g (Cig = Ci/G input channels, Cog = Co/G output channels, K = Cig*kh*kw):
//   col (M, K), M = N*Ho*Wo: row m holds the patch under output pixel m, columns in weight order (ci, ky, kx),
//   so the weight rows of the group, (Cog, K) contiguous in w, multiply it without a transpose.

template <class T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  ENGINE_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX,
        "conv2d GEMM dims exceed the BLAS int range: ", m, " x ", n, " x ", k);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// col (M, K) <- patches of input channels [g*Cig, (g+1)*Cig) of x (N, H, W, Ci); zeros where the window is
// in the padding.
template <class T>
void im2col(const Conv2dDims& d, const T* x, int64_t g, T* col) {
  const int64_t Cig = d.Ci / d.G, K = Cig * d.kh * d.kw;
#pragma omp parallel for
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oy = 0; oy < d.Ho; ++oy)
      for (int64_t ox = 0; ox < d.Wo; ++ox) {
        T* row = col + ((n * d.Ho + oy) * d.Wo + ox) * K;  // (K)
        for (int64_t ky = 0; ky < d.kh; ++ky) {
          const int64_t iy = oy * d.sh - d.ph + ky;
          for (int64_t kx = 0; kx < d.kw; ++kx) {
            const int64_t ix = ox * d.sw - d.pw + kx;
            T* dst = row + ky * d.kw + kx;  // column (0, ky, kx); channel ci is kh*kw further per step
            if (iy < 0 || iy >= d.H || ix < 0 || ix >= d.W) {
              for (int64_t ci = 0; ci < Cig; ++ci) dst[ci * d.kh * d.kw] = T(0);
              continue;
            }
            const T* px = x + ((n * d.H + iy) * d.W + ix) * d.Ci + g * Cig;  // (Cig)
            for (int64_t ci = 0; ci < Cig; ++ci) dst[ci * d.kh * d.kw] = px[ci];
          }
        }
      }
}

// dx (N, H, W, Ci) += scatter of col (M, K) back onto the input pixels of group g. Windows of different
// output pixels overlap, so threads split the batch: each sample's image is written by one thread.
template <class T>
void col2im_add(const Conv2dDims& d, const T* col, int64_t g, T* dx) {
  const int64_t Cig = d.Ci / d.G, K = Cig * d.kh * d.kw;
#pragma omp parallel for
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t oy = 0; oy < d.Ho; ++oy)
      for (int64_t ox = 0; ox < d.Wo; ++ox) {
        const T* row = col + ((n * d.Ho + oy) * d.Wo + ox) * K;  // (K)
        for (int64_t ky = 0; ky < d.kh; ++ky) {
          const int64_t iy = oy * d.sh - d.ph + ky;
          if (iy < 0 || iy >= d.H) continue;
          for (int64_t kx = 0; kx < d.kw; ++kx) {
            const int64_t ix = ox * d.sw - d.pw + kx;
            if (ix < 0 || ix >= d.W) continue;
            const T* src = row + ky * d.kw + kx;
            T* px = dx + ((n * d.H + iy) * d.W + ix) * d.Ci + g * Cig;  // (Cig)
            for (int64_t ci = 0; ci < Cig; ++ci) px[ci] += src[ci * d.kh * d.kw];
          }
        }
      }
}

template <class T>
void conv2d_forward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* b, T* y) {
  const int64_t M = d.N * d.Ho * d.Wo, Cog = d.Co / d.G, K = (d.Ci / d.G) * d.kh * d.kw;
  // y starts as the broadcast bias so that the GEMMs can add onto it (beta = 1).
  if (b) {
#pragma omp parallel for if (M * d.Co > 65536)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t co = 0; co < d.Co; ++co) y[m * d.Co + co] = b[co];
  }
  std::vector<T> col(size_t(M * K));  // (M, K)
  for (int64_t g = 0; g < d.G; ++g) {
    im2col(d, x, g, col.data());
    // y[:, group g] (M, Cog) = col (M, K) * w_g^T, w_g (Cog, K)
    gemm<T>(CblasNoTrans, CblasTrans, M, Cog, K, T(1), col.data(), K, w + g * Cog * K, K, b ? T(1) : T(0),
            y + g * Cog, d.Co);
  }
}

template <class T>
void conv2d_backward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
  const int64_t M = d.N * d.Ho * d.Wo, Cog = d.Co / d.G, K = (d.Ci / d.G) * d.kh * d.kw;
  if (dx || dw) {
    std::vector<T> col(size_t(M * K));  // (M, K): patches of x for dw, then dcol for dx
    for (int64_t g = 0; g < d.G; ++g) {
      if (dw) {
        im2col(d, x, g, col.data());
        // dw_g (Cog, K) += dy_g^T (Cog, M) * col (M, K)
        gemm<T>(CblasTrans, CblasNoTrans, Cog, K, M, T(1), dy + g * Cog, d.Co, col.data(), K, T(1),
                dw + g * Cog * K, K);
      }
      if (dx) {
        // dcol (M, K) = dy_g (M, Cog) * w_g (Cog, K)
        gemm<T>(CblasNoTrans, CblasNoTrans, M, K, Cog, T(1), dy + g * Cog, d.Co, w + g * Cog * K, K, T(0),
                col.data(), K);
        col2im_add(d, col.data(), g, dx);
      }
    }
  }
  if (db) {
    sum_rows_blocked<T>(M, d.Co, 1, db, [&](int64_t m, T* acc) {
      for (int64_t co = 0; co < d.Co; ++co) acc[co] += dy[m * d.Co + co];
    });
  }
}

// ---- dispatch -----------------------------------------------------------------------------------

Conv2dDims resolve_dims(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  USER_CHECK(x.dim() == 4, "conv2d: x must be (N, H, W, Ci), got ", shape_str(x.shape()));
  USER_CHECK(w.dim() == 4, "conv2d: w must be (Co, Ci/groups, kh, kw), got ", shape_str(w.shape()));
  USER_CHECK(p.groups >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
             "conv2d: need groups >= 1, stride >= 1, padding >= 0, got groups ", p.groups, ", stride (", p.stride_h,
             ", ", p.stride_w, "), padding (", p.pad_h, ", ", p.pad_w, ")");
  USER_CHECK(x.numel() > 0 && w.numel() > 0, "conv2d: empty x ", shape_str(x.shape()), " or w ", shape_str(w.shape()));
  Conv2dDims d;
  d.N = x.size(0), d.H = x.size(1), d.W = x.size(2), d.Ci = x.size(3);
  d.Co = w.size(0), d.kh = w.size(2), d.kw = w.size(3);
  d.sh = p.stride_h, d.sw = p.stride_w, d.ph = p.pad_h, d.pw = p.pad_w, d.G = p.groups;
  USER_CHECK(d.Ci % d.G == 0, "conv2d: Ci = ", d.Ci, " of x ", shape_str(x.shape()), " is not divisible by groups = ",
             d.G);
  USER_CHECK(w.size(1) * d.G == d.Ci, "conv2d: w ", shape_str(w.shape()), " with groups = ", d.G, " expects Ci = ",
             w.size(1) * d.G, ", x ", shape_str(x.shape()), " has Ci = ", d.Ci);
  USER_CHECK(d.Co % d.G == 0, "conv2d: Co = ", d.Co, " of w ", shape_str(w.shape()), " is not divisible by groups = ",
             d.G);
  if (b.defined()) check_shape(b, {d.Co}, "conv2d bias");
  USER_CHECK(d.H + 2 * d.ph >= d.kh && d.W + 2 * d.pw >= d.kw, "conv2d: kernel (", d.kh, ", ", d.kw,
             ") is larger than the padded input (", d.H + 2 * d.ph, ", ", d.W + 2 * d.pw, ") of x ",
             shape_str(x.shape()));
  d.Ho = (d.H + 2 * d.ph - d.kh) / d.sh + 1;
  d.Wo = (d.W + 2 * d.pw - d.kw) / d.sw + 1;
  return d;
}

void conv2d_backward(const Conv2dDims& d, const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db) {
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    conv2d_backward_cuda(d, x.data<float>(), w.data<float>(), dy.data<float>(), data_or_null<float>(dx),
                         data_or_null<float>(dw), data_or_null<float>(db));
#endif
    return;
  }
  dispatch_cpu_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    conv2d_backward_cpu<T>(d, x.data<T>(), w.data<T>(), dy.data<T>(), data_or_null<T>(dx), data_or_null<T>(dw),
                           data_or_null<T>(db));
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  check_float_op("conv2d", {&x, &w, &b});
  const Conv2dDims d = resolve_dims(x, w, b, p);
  Tensor y = Tensor::empty({d.N, d.Ho, d.Wo, d.Co}, x.dtype(), x.device());  // (N, Ho, Wo, Co)
  if (x.is_cuda()) {
#ifdef ENGINE_CUDA
    conv2d_forward_cuda(d, x.data<float>(), w.data<float>(), data_or_null<float>(b), y.data<float>());
#endif
  } else {
    dispatch_cpu_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      conv2d_forward_cpu<T>(d, x.data<T>(), w.data<T>(), data_or_null<T>(b), y.data<T>());
    });
  }
  if (autograd::needs_grad({&x, &w, &b})) {
    y.set_requires_grad(true);
    autograd::record([d, x, w, b, y]() {
      Tensor dy = y.grad();  // (N, Ho, Wo, Co)
      if (!dy.defined()) return;
      conv2d_backward(d, x, w, dy, grad_if_required(x), grad_if_required(w), grad_if_required(b));
    });
  }
  return y;
}

}  // namespace engine::ops
