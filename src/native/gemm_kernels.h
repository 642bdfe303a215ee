// The SGEMM's inner layer: operand packing and the register-blocked
// micro-kernels, GotoBLAS/BLIS style. op(A) is packed into MR-tall row panels and
// op(B) into NR-wide column panels (k-major, zero padded; the packing absorbs the
// transposes, so transA/transB cost nothing extra). A micro-kernel (AVX-512 8x16
// or AVX2+FMA 6x16, chosen at runtime with __builtin_cpu_supports; portable
// fallback elsewhere) computes MR x NR tiles over K blocks of KC, with bias +
// LeakyReLU fused into the final write-back, so no pass over C is needed after.
#pragma once

#include "common.h"

namespace {

constexpr int F_ACCUM = 1;  // C += result (not the first K block)
constexpr int F_BIAS = 2;   // add bias[j] (last K block only)
constexpr int F_ACT = 4;    // apply LeakyReLU (last K block only)

// ---------------------------------------------------------------------------
// Scalar write-back used for edge tiles (and by the portable kernel).
// tmp is an mr x nr (leading dimension ldt) tile of freshly computed sums.
inline void edge_store(const float* tmp, int ldt, float* C, idx_t ldc, int mr,
                       int nr, const float* bias, int flags, float alpha) {
  for (int i = 0; i < mr; i++) {
    float* c = C + i * ldc;
    const float* t = tmp + i * ldt;
    for (int j = 0; j < nr; j++) {
      float x = t[j];
      if (flags & F_ACCUM) x += c[j];
      if (flags & F_BIAS) x += bias[j];
      if (flags & F_ACT) x = x > 0.0f ? x : x * alpha;
      c[j] = x;
    }
  }
}

// ---------------------------------------------------------------------------
// Packing. packA: element (i,k) of op(A) block is A[i*rs + k*cs]; output is
// ceil(mc/MR) panels, each kc x MR (k-major), zero padded to MR rows.
// packB: element (k,j) of op(B) block is B[k*rs + j*cs]; output is
// ceil(nc/NR) panels, each kc x NR (k-major), zero padded to NR columns.

template <int MR>
void packA_t(const float* A, idx_t rs, idx_t cs, int mc, int kc, float* dst) {
  for (int ip = 0; ip < mc; ip += MR) {
    const int mr = std::min(MR, mc - ip);
    const float* src = A + (idx_t)ip * rs;
    if (mr == MR && cs == 1) {
      // Row-major A: each row is contiguous along k (a small transpose).
      const float* rows[MR];
      for (int i = 0; i < MR; i++) rows[i] = src + (idx_t)i * rs;
      for (int k = 0; k < kc; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) dst[(idx_t)k * MR + i] = rows[i][k];
      }
    } else if (mr == MR && rs == 1) {
      // Transposed A (stored [K,M]): MR contiguous values per k.
      for (int k = 0; k < kc; k++) {
        const float* s = src + (idx_t)k * cs;
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) dst[(idx_t)k * MR + i] = s[i];
      }
    } else {
      for (int k = 0; k < kc; k++) {
        int i = 0;
        for (; i < mr; i++) dst[(idx_t)k * MR + i] = src[(idx_t)i * rs + (idx_t)k * cs];
        for (; i < MR; i++) dst[(idx_t)k * MR + i] = 0.0f;
      }
    }
    dst += (idx_t)MR * kc;
  }
}

#if GEMM_X86
// 8x8 transpose of a block read with row stride `ls`, written with row stride
// `ld` (used to pack a transposed B, i.e. B stored [N,K]).
__attribute__((target("avx2"))) inline void transpose8x8(const float* s, idx_t ls,
                                                         float* d, idx_t ld) {
  __m256 r0 = _mm256_loadu_ps(s + 0 * ls), r1 = _mm256_loadu_ps(s + 1 * ls);
  __m256 r2 = _mm256_loadu_ps(s + 2 * ls), r3 = _mm256_loadu_ps(s + 3 * ls);
  __m256 r4 = _mm256_loadu_ps(s + 4 * ls), r5 = _mm256_loadu_ps(s + 5 * ls);
  __m256 r6 = _mm256_loadu_ps(s + 6 * ls), r7 = _mm256_loadu_ps(s + 7 * ls);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(d + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(d + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(d + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(d + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(d + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(d + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(d + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(d + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

#endif

#if GEMM_X86
bool sup_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool sup_avx512() { return __builtin_cpu_supports("avx512f"); }
bool has_avx2() {
  static const bool v = sup_avx2();  // thread-safe one-time init
  return v;
}
#endif

template <int NR>
void packB_t(const float* B, idx_t rs, idx_t cs, int kc, int nc, float* dst) {
  for (int jp = 0; jp < nc; jp += NR) {
    const int nr = std::min(NR, nc - jp);
    const float* src = B + (idx_t)jp * cs;
    if (nr == NR && cs == 1) {
      // Row-major B: NR contiguous values per k.
      for (int k = 0; k < kc; k++)
        std::memcpy(dst + (idx_t)k * NR, src + (idx_t)k * rs, sizeof(float) * NR);
    } else if (nr == NR && rs == 1) {
      // Transposed B (stored [N,K]): column j is contiguous along k.
      int k = 0;
#if GEMM_X86
      if (NR % 8 == 0 && has_avx2()) {
        for (; k + 8 <= kc; k += 8)
          for (int j = 0; j < NR; j += 8)
            transpose8x8(src + (idx_t)j * cs + k, cs, dst + (idx_t)k * NR + j, NR);
      }
#endif
      for (int j = 0; j < NR; j++) {
        const float* s = src + (idx_t)j * cs;
        for (int kk = k; kk < kc; kk++) dst[(idx_t)kk * NR + j] = s[kk];
      }
    } else {
      for (int k = 0; k < kc; k++) {
        int j = 0;
        for (; j < nr; j++) dst[(idx_t)k * NR + j] = src[(idx_t)k * rs + (idx_t)j * cs];
        for (; j < NR; j++) dst[(idx_t)k * NR + j] = 0.0f;
      }
    }
    dst += (idx_t)NR * kc;
  }
}

// ---------------------------------------------------------------------------
// Micro-kernels. A: kc x MR packed panel, B: kc x NR packed panel (64-byte
// aligned), C: tile origin with row stride ldc; only mr x nr is written.

using KernelFn = void (*)(idx_t kc, const float* A, const float* B, float* C,
                          idx_t ldc, int mr, int nr, const float* bias,
                          int flags, float alpha);
using PackAFn = void (*)(const float* A, idx_t rs, idx_t cs, int mc, int kc, float* dst);
using PackBFn = void (*)(const float* B, idx_t rs, idx_t cs, int kc, int nc, float* dst);

struct Kernel {
  const char* name;
  int mr, nr;
  KernelFn fn;
  PackAFn packA;
  PackBFn packB;
  bool (*supported)();
};

// Portable kernel (auto-vectorised by the compiler for the baseline ISA).
template <int MR, int NR>
void kern_generic(idx_t kc, const float* __restrict A, const float* __restrict B,
                  float* __restrict C, idx_t ldc, int mr, int nr,
                  const float* bias, int flags, float alpha) {
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;
  for (idx_t k = 0; k < kc; k++) {
    for (int i = 0; i < MR; i++) {
      const float a = A[i];
      for (int j = 0; j < NR; j++) acc[i][j] += a * B[j];
    }
    A += MR;
    B += NR;
  }
  edge_store(&acc[0][0], NR, C, ldc, mr, nr, bias, flags, alpha);
}

#if GEMM_X86
template <int MR, int NV>
__attribute__((target("avx2,fma"))) void kern_avx2(
    idx_t kc, const float* __restrict A, const float* __restrict B,
    float* __restrict C, idx_t ldc, int mr, int nr, const float* bias, int flags,
    float alpha) {
  constexpr int NR = 8 * NV;
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    if (i < mr) _mm_prefetch((const char*)(C + i * ldc), _MM_HINT_T0);
    if (i < mr) _mm_prefetch((const char*)(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 2
  for (idx_t k = 0; k < kc; k++) {
    __m256 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(B + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m256 a = _mm256_broadcast_ss(A + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
    }
    A += MR;
    B += NR;
  }
  if (nr == NR) {
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 z = _mm256_setzero_ps();
    __m256 vb[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      vb[v] = (flags & F_BIAS) ? _mm256_loadu_ps(bias + 8 * v) : z;
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      if (i >= mr) break;
      float* c = C + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        __m256 x = acc[i][v];
        if (flags & F_ACCUM) x = _mm256_add_ps(x, _mm256_loadu_ps(c + 8 * v));
        if (flags & F_BIAS) x = _mm256_add_ps(x, vb[v]);
        if (flags & F_ACT) {
          const __m256 m = _mm256_cmp_ps(x, z, _CMP_GT_OQ);
          x = _mm256_blendv_ps(_mm256_mul_ps(x, va), x, m);
        }
        _mm256_storeu_ps(c + 8 * v, x);
      }
    }
  } else {
    alignas(32) float tmp[MR * NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) _mm256_store_ps(tmp + i * NR + 8 * v, acc[i][v]);
    }
    edge_store(tmp, NR, C, ldc, mr, nr, bias, flags, alpha);
  }
}

template <int MR, int NV>
__attribute__((target("avx512f"))) void kern_avx512(
    idx_t kc, const float* __restrict A, const float* __restrict B,
    float* __restrict C, idx_t ldc, int mr, int nr, const float* bias, int flags,
    float alpha) {
  constexpr int NR = 16 * NV;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    if (i < mr) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        _mm_prefetch((const char*)(C + i * ldc + 16 * v), _MM_HINT_T0);
    }
  }
#pragma GCC unroll 2
  for (idx_t k = 0; k < kc; k++) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(B + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512 a = _mm512_set1_ps(A[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    A += MR;
    B += NR;
  }
  // Column masks (partial tiles are handled with masked loads/stores, which
  // never touch memory outside the valid columns).
  __mmask16 mk[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) {
    const int cnt = std::max(0, std::min(16, nr - 16 * v));
    mk[v] = (__mmask16)((1u << cnt) - 1u);
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 z = _mm512_setzero_ps();
  __m512 vb[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++)
    vb[v] = (flags & F_BIAS) ? _mm512_maskz_loadu_ps(mk[v], bias + 16 * v) : z;
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    if (i >= mr) break;
    float* c = C + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      __m512 x = acc[i][v];
      if (flags & F_ACCUM) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[v], c + 16 * v));
      if (flags & F_BIAS) x = _mm512_add_ps(x, vb[v]);
      if (flags & F_ACT) {
        const __mmask16 m = _mm512_cmp_ps_mask(x, z, _CMP_GT_OQ);
        x = _mm512_mask_blend_ps(m, _mm512_mul_ps(x, va), x);
      }
      _mm512_mask_storeu_ps(c + 16 * v, mk[v], x);
    }
  }
}

#endif

bool sup_always() { return true; }

// Only the register-block shapes that were fastest on the GAN's products are kept
// (measurements: docs/kernel-measurements.md, "Native kernels").
const Kernel kKernels[] = {
#if GEMM_X86
    {"avx512-8x16", 8, 16, kern_avx512<8, 1>, packA_t<8>, packB_t<16>, sup_avx512},
    {"avx512-8x32", 8, 32, kern_avx512<8, 2>, packA_t<8>, packB_t<32>, sup_avx512},
    {"avx2-6x16", 6, 16, kern_avx2<6, 2>, packA_t<6>, packB_t<16>, sup_avx2},
#endif
    {"generic-4x8", 4, 8, kern_generic<4, 8>, packA_t<4>, packB_t<8>, sup_always},
};
constexpr int kNumKernels = sizeof(kKernels) / sizeof(kKernels[0]);

// Preference order for the automatic choice: fastest first (avx512-8x16 needs fewer
// instructions / loads per FMA than avx2-6x16; measurements: docs/kernel-measurements.md, "Native kernels").
const char* const kPreferred[] = {"avx512-8x16", "avx2-6x16", "generic-4x8"};

const Kernel* find_kernel(std::string name) {
  // Family aliases.
  if (name == "avx2") name = "avx2-6x16";
  if (name == "avx512") name = "avx512-8x16";
  if (name == "generic" || name == "scalar") name = "generic-4x8";
  for (int i = 0; i < kNumKernels; i++)
    if (name == kKernels[i].name && kKernels[i].supported()) return &kKernels[i];
  return nullptr;
}

const Kernel* default_kernel() {
  for (const char* p : kPreferred) {
    const Kernel* k = find_kernel(p);
    if (k) return k;
  }
  return &kKernels[kNumKernels - 1];
}

}  // namespace
