// Convolutions (NHWC, dilation 1) as im2col/col2im around the SGEMM, on the same
// heap and pool as the products. Every output element is reduced in an order
// fixed by the shapes alone (never by the thread count), so results are
// bit-identical for any number of threads: im2col / col2im tasks own whole
// rows / whole images, and the products are the GEMM (tiles never split K).
#pragma once

#include "addon_state.h"
#include "common.h"
#include "gemm.h"
#include "parallel.h"

namespace {

struct ConvGeom {
  int N, H, W, C;        // x
  int kH, kW, outC;      // filter [kH, kW, C, outC]
  int outH, outW;        // y
  int sH, sW, top, left;
  idx_t M() const { return (idx_t)N * outH * outW; }
  idx_t K() const { return (idx_t)kH * kW * C; }
  // The im2col matrix is x itself: the filter covers the whole (unpadded)
  // image with one output position, or is 1x1 with stride 1 and no padding.
  bool identity() const {
    if (top != 0 || left != 0) return false;
    if (outH == 1 && outW == 1 && kH == H && kW == W) return true;
    return kH == 1 && kW == 1 && sH == 1 && sW == 1 && outH == H && outW == W;
  }
};

// cols[m, (kh, kw, c)] = x[n, oh*sH + kh - top, ow*sW + kw - left, c] (0 outside).
void im2col(Addon* ad, const float* x, const ConvGeom& g, float* cols) {
  const idx_t K = g.K(), M = g.M();
  const int C = g.C;
  parallel_for(ad, M, work_tasks(ad, (double)M * K), [&](idx_t m0, idx_t m1) {
    for (idx_t m = m0; m < m1; m++) {
      const int n = (int)(m / ((idx_t)g.outH * g.outW));
      const int r = (int)(m % ((idx_t)g.outH * g.outW));
      const int oh = r / g.outW, ow = r % g.outW;
      float* dst = cols + m * K;
      const float* xn = x + (idx_t)n * g.H * g.W * C;
      for (int kh = 0; kh < g.kH; kh++) {
        const int ih = oh * g.sH + kh - g.top;
        if (ih < 0 || ih >= g.H) {
          std::memset(dst, 0, sizeof(float) * (size_t)g.kW * C);
          dst += (idx_t)g.kW * C;
          continue;
        }
        const int iw0 = ow * g.sW - g.left;
        const int kwLo = std::max(0, -iw0), kwHi = std::min(g.kW, g.W - iw0);
        if (kwLo >= kwHi) {
          std::memset(dst, 0, sizeof(float) * (size_t)g.kW * C);
          dst += (idx_t)g.kW * C;
          continue;
        }
        // Taps [kwLo, kwHi) are one contiguous run of x's row.
        if (kwLo > 0) std::memset(dst, 0, sizeof(float) * (size_t)kwLo * C);
        std::memcpy(dst + (idx_t)kwLo * C, xn + ((idx_t)ih * g.W + iw0 + kwLo) * C,
                    sizeof(float) * (size_t)(kwHi - kwLo) * C);
        if (kwHi < g.kW) std::memset(dst + (idx_t)kwHi * C, 0, sizeof(float) * (size_t)(g.kW - kwHi) * C);
        dst += (idx_t)g.kW * C;
      }
    }
  });
}

// dx[n, ih, iw, c] = sum of cols[(n, oh, ow), (kh, kw, c)] over the taps that
// land there, in (oh, ow, kh, kw) order. One task per range of images.
void col2im(Addon* ad, const float* cols, const ConvGeom& g, float* dx) {
  const idx_t K = g.K();
  const int C = g.C;
  const idx_t img = (idx_t)g.H * g.W * C;
  parallel_for(ad, g.N, work_tasks(ad, (double)g.M() * K), [&](idx_t n0, idx_t n1) {
    for (idx_t n = n0; n < n1; n++) {
      float* xn = dx + n * img;
      std::memset(xn, 0, sizeof(float) * (size_t)img);
      const float* src = cols + n * (idx_t)g.outH * g.outW * K;
      for (int oh = 0; oh < g.outH; oh++) {
        for (int ow = 0; ow < g.outW; ow++, src += K) {
          const int iw0 = ow * g.sW - g.left;
          const int kwLo = std::max(0, -iw0), kwHi = std::min(g.kW, g.W - iw0);
          if (kwLo >= kwHi) continue;
          for (int kh = 0; kh < g.kH; kh++) {
            const int ih = oh * g.sH + kh - g.top;
            if (ih < 0 || ih >= g.H) continue;
            const float* s = src + ((idx_t)kh * g.kW + kwLo) * C;
            float* d = xn + ((idx_t)ih * g.W + iw0 + kwLo) * C;
            const idx_t len = (idx_t)(kwHi - kwLo) * C;
            for (idx_t i = 0; i < len; i++) d[i] += s[i];
          }
        }
      }
    }
  });
}

// y[M, outC] = im2col(x)[M, K] * w[K, outC]
bool conv2d_forward(Addon* ad, const float* x, const float* w, float* y, const ConvGeom& g) {
  const idx_t M = g.M(), K = g.K();
  const float* a = x;
  if (!g.identity()) {
    if (!ad->cols.reserve((size_t)(M * K))) return false;
    im2col(ad, x, g, ad->cols.p);
    a = ad->cols.p;
  }
  Problem p{a, K, 1, w, g.outC, 1, y, g.outC, (int)M, g.outC, (int)K, nullptr, 0, 0.0f};
  return run_gemm(ad, p);
}

// dx = col2im(dy[M, outC] * w[K, outC]^T)
bool conv2d_backprop_input(Addon* ad, const float* dy, const float* w, float* dx, const ConvGeom& g) {
  const idx_t M = g.M(), K = g.K();
  float* cols = dx;
  if (!g.identity()) {
    if (!ad->cols.reserve((size_t)(M * K))) return false;
    cols = ad->cols.p;
  }
  Problem p{dy, g.outC, 1, w, 1, g.outC, cols, K, (int)M, (int)K, g.outC, nullptr, 0, 0.0f};
  if (!run_gemm(ad, p)) return false;
  if (!g.identity()) col2im(ad, cols, g, dx);
  return true;
}

// dw[K, outC] = im2col(x)[M, K]^T * dy[M, outC]
bool conv2d_backprop_filter(Addon* ad, const float* x, const float* dy, float* dw, const ConvGeom& g) {
  const idx_t M = g.M(), K = g.K();
  const float* a = x;
  if (!g.identity()) {
    if (!ad->cols.reserve((size_t)(M * K))) return false;
    im2col(ad, x, g, ad->cols.p);
    a = ad->cols.p;
  }
  Problem p{a, 1, K, dy, g.outC, 1, dw, g.outC, (int)K, g.outC, (int)M, nullptr, 0, 0.0f};
  return run_gemm(ad, p);
}

}  // namespace
