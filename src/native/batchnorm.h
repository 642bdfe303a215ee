// Training-mode batch norm (forward and gradient) over [M, C] data. The
// per-channel sums go per fixed-size chunk of rows into double partials, which
// are then added in chunk order on the calling thread, so results are
// bit-identical for any number of threads.
#pragma once

#include "addon_state.h"
#include "common.h"
#include "parallel.h"

namespace {

// Rows per partial sum: fixed by M alone (at most 4096 partials).
inline idx_t bn_chunk_rows(idx_t M) { return std::max<idx_t>(256, (M + 4095) / 4096); }

// The per-row loops, compiled for AVX2 too (picked at load time): the
// addon's default flags target baseline x86-64 (SSE2), and these loops are
// most of batch norm's time.
#if GEMM_X86 && defined(__GNUC__) && !defined(__clang__)
#define BN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BN_CLONES
#endif

// s1[c] += x - shift, s2[c] += (x - shift)^2 over rows [r0, r1) of x [., C].
BN_CLONES void bn_stat_rows(const float* x, idx_t r0, idx_t r1, int C, const float* shift, double* s1, double* s2) {
  for (idx_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    for (int c = 0; c < C; c++) {
      const double d = (double)xr[c] - (double)shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

// s1[c] += dy, s2[c] += dy * (x - mean).
BN_CLONES void bn_grad_stat_rows(const float* x, const float* dy, idx_t r0, idx_t r1, int C, const float* mean, double* s1, double* s2) {
  for (idx_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    for (int c = 0; c < C; c++) {
      s1[c] += (double)dr[c];
      s2[c] += (double)dr[c] * ((double)xr[c] - (double)mean[c]);
    }
  }
}

// y = (x - mean) * scale + beta
BN_CLONES void bn_apply_rows(const float* x, float* y, idx_t r0, idx_t r1, int C, const float* mean, const float* scale, const float* beta) {
  for (idx_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    for (int c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * scale[c] + beta[c];
  }
}

// dx = k1 * dy + k2 * (x - mean) + k3
BN_CLONES void bn_grad_apply_rows(const float* x, const float* dy, float* dx, idx_t r0, idx_t r1, int C, const float* mean, const float* k1, const float* k2, const float* k3) {
  for (idx_t r = r0; r < r1; r++) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    float* o = dx + r * C;
    for (int c = 0; c < C; c++) o[c] = k1[c] * dr[c] + k2[c] * (xr[c] - mean[c]) + k3[c];
  }
}

// Two per-channel sums over the rows of [M, C] data: chunk(r0, r1, s1, s2)
// accumulates a fixed chunk of rows into its own double partials; the
// partials are then added in chunk order.
template <typename ChunkFn>
void bn_sums(Addon* ad, idx_t M, int C, double* out, ChunkFn chunk) {
  const idx_t R = bn_chunk_rows(M);
  const idx_t chunks = (M + R - 1) / R;
  std::vector<double>& part = ad->partials;
  part.assign((size_t)(chunks * 2 * C), 0.0);
  double* pp = part.data();
  parallel_for(ad, chunks, work_tasks(ad, (double)M * C), [&](idx_t c0, idx_t c1) {
    for (idx_t ch = c0; ch < c1; ch++) {
      double* acc = pp + ch * 2 * C;
      chunk(ch * R, std::min(M, (ch + 1) * R), acc, acc + C);
    }
  });
  std::fill(out, out + (size_t)2 * C, 0.0);
  for (idx_t ch = 0; ch < chunks; ch++)
    for (int i = 0; i < 2 * C; i++) out[i] += pp[ch * 2 * C + i];
}

inline float bn_inv_std(float variance, double eps) { return (float)(1.0 / std::sqrt((double)variance + eps)); }

// y = (x - mean) * invStd * gamma + beta per channel; mean and the biased
// variance of x [M, C] go to mean/variance.
void batchnorm_forward(Addon* ad, const float* x, const float* gamma, const float* beta, float* y,
                       float* mean, float* variance, idx_t M, int C, double eps) {
  // Shifted sums (by the first row) keep E[d^2] - E[d]^2 free of cancellation.
  std::vector<double> sums(2 * (size_t)C);
  std::vector<float> shift(x, x + C);
  const float* sh = shift.data();
  bn_sums(ad, M, C, sums.data(), [&](idx_t r0, idx_t r1, double* s1, double* s2) {
    bn_stat_rows(x, r0, r1, C, sh, s1, s2);
  });
  std::vector<float> scale(C);
  for (int c = 0; c < C; c++) {
    const double m1 = sums[c] / (double)M;
    const double var = std::max(0.0, sums[C + c] / (double)M - m1 * m1);
    mean[c] = (float)((double)sh[c] + m1);
    variance[c] = (float)var;
    scale[c] = (float)((double)gamma[c] * bn_inv_std(variance[c], eps));
  }
  const float* sc = scale.data();
  parallel_for(ad, M, work_tasks(ad, (double)M * C), [&](idx_t r0, idx_t r1) {
    bn_apply_rows(x, y, r0, r1, C, mean, sc, beta);
  });
}

// With xhat = (x - mean) * invStd: dbeta = sum dy, dgamma = sum dy * xhat,
// dx = gamma * invStd / M * (M dy - dbeta - xhat dgamma).
void batchnorm_backward(Addon* ad, const float* x, const float* dy, const float* gamma, const float* mean,
                        const float* variance, float* dx, float* dgamma, float* dbeta, idx_t M, int C,
                        double eps) {
  std::vector<double> sums(2 * (size_t)C);
  bn_sums(ad, M, C, sums.data(), [&](idx_t r0, idx_t r1, double* s1, double* s2) {
    bn_grad_stat_rows(x, dy, r0, r1, C, mean, s1, s2);
  });
  // dx = k1 * dy + k2 * (x - mean) + k3
  std::vector<float> k1(C), k2(C), k3(C);
  for (int c = 0; c < C; c++) {
    const double inv = bn_inv_std(variance[c], eps);
    const double db = sums[c], dg = sums[C + c] * inv;
    dbeta[c] = (float)db;
    dgamma[c] = (float)dg;
    const double a = (double)gamma[c] * inv;
    k1[c] = (float)a;
    k2[c] = (float)(-a * inv * dg / (double)M);
    k3[c] = (float)(-a * db / (double)M);
  }
  const float *p1 = k1.data(), *p2 = k2.data(), *p3 = k3.data();
  parallel_for(ad, M, work_tasks(ad, (double)M * C), [&](idx_t r0, idx_t r1) {
    bn_grad_apply_rows(x, dy, dx, r0, r1, C, mean, p1, p2, p3);
  });
}

}  // namespace
