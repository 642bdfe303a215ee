// Native SGEMM for Node.js (Node-API, plain C API), designed to operate
// directly on a tfjs-wasm heap (zero copy).
//
//   C[M,N] = op(A)[M,K] * op(B)[K,N]  (+ bias[N])  (then LeakyReLU)
//
// GotoBLAS/BLIS structure: op(A) is packed into MR-tall row panels and op(B)
// into NR-wide column panels (k-major, zero padded; the packing absorbs the
// transposes, so transA/transB cost nothing extra). A register-blocked
// micro-kernel (AVX-512 8x16 or AVX2+FMA 6x16, chosen at runtime with
// __builtin_cpu_supports; portable fallback elsewhere) computes MR x NR tiles
// over K blocks of KC, with bias + LeakyReLU fused into the final write-back.
// Compute tiles are <= MC rows (A block in L2) x <= NC columns.
//
// Parallelism: a persistent pool (spin-then-wait). A product is one job of
// tasks claimed dynamically from an atomic ticket: first the packing tasks
// (both operands are packed once, cooperatively, into shared buffers), then
// the compute tiles. Dynamic claiming keeps the caller from stalling when a
// worker is descheduled on a busy machine. Small products run single-threaded.

#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>
#if defined(_WIN32)
#include <malloc.h>  // _aligned_malloc
#endif

// x86-64 SIMD kernels need GCC/Clang (target attributes, __builtin_cpu_supports);
// other compilers / architectures get the portable kernel.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#include <immintrin.h>
#else
#define GEMM_X86 0
#endif

namespace {

using idx_t = std::ptrdiff_t;  // 64-bit element index on LP64 and LLP64

constexpr int F_ACCUM = 1;  // C += result (not the first K block)
constexpr int F_BIAS = 2;   // add bias[j] (last K block only)
constexpr int F_ACT = 4;    // apply LeakyReLU (last K block only)
constexpr int kMaxThreads = 8;

inline void cpu_relax() {
#if GEMM_X86
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

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

// Kernels considered on Zen 4 (GAN shapes, 1 thread): avx512-8x16 ~= 8x32 >
// avx2-6x16 (a few %) > avx512-12x32 / 14x32 / 6x64, avx2-4x24 / 8x8 (dropped).
const Kernel kKernels[] = {
#if GEMM_X86
    {"avx512-8x16", 8, 16, kern_avx512<8, 1>, packA_t<8>, packB_t<16>, sup_avx512},
    {"avx512-8x32", 8, 32, kern_avx512<8, 2>, packA_t<8>, packB_t<32>, sup_avx512},
    {"avx2-6x16", 6, 16, kern_avx2<6, 2>, packA_t<6>, packB_t<16>, sup_avx2},
#endif
    {"generic-4x8", 4, 8, kern_generic<4, 8>, packA_t<4>, packB_t<8>, sup_always},
};
constexpr int kNumKernels = sizeof(kKernels) / sizeof(kKernels[0]);

// Preference order for the automatic choice.
// avx512-8x16 measured a few % faster than avx2-6x16 on Zen 4 (where 512-bit
// FMAs are double-pumped, so peak FLOP/s are equal; the gain comes from fewer
// instructions / loads per FMA and less edge padding than NR=32).
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

// ---------------------------------------------------------------------------
// Problem description and the blocked driver.

struct Problem {
  const float* A;
  idx_t rsA, csA;  // op(A)(i,k) = A[i*rsA + k*csA]
  const float* B;
  idx_t rsB, csB;  // op(B)(k,j) = B[k*rsB + j*csB]
  float* C;
  idx_t ldc;
  int M, N, K;
  const float* bias;  // nullptr if none
  int act;            // 0 linear, 1 leaky relu
  float alpha;
};

struct Blocking {
  int mc = 144;                 // rows of a compute tile (A block in L2)
  int kc = 256;                 // depth of a K block (B micro-panel in L1)
  int nc = 2048;                // max columns of a compute tile
  double mt_threshold = 4e5;  // M*N*K below which we stay single-threaded (measured break-even ~3.5e5)
  int tiles_per_thread = 4;     // compute tiles per thread (dynamic balance)
  idx_t pack_cap = 4L << 20;     // max floats of one packed operand (16 MB)
  // Elements below which memory-bound passes (im2col, col2im, batch norm,
  // activations) stay on the calling thread: waking a worker, and waiting for
  // one that the OS descheduled on a busy machine, costs more than they save.
  double stream_mt_threshold = 4e6;
};

void* aligned_malloc(size_t bytes) {
#if defined(_WIN32)
  return _aligned_malloc(bytes ? bytes : 64, 64);
#else
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return nullptr;
  return p;
#endif
}
void aligned_free(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  free(p);
#endif
}

struct Buffer {
  float* p = nullptr;
  size_t cap = 0;  // floats
  ~Buffer() { aligned_free(p); }
  bool reserve(size_t n) {
    if (n <= cap) return true;
    float* q = static_cast<float*>(aligned_malloc(n * sizeof(float)));
    if (!q) return false;
    aligned_free(p);
    p = q;
    cap = n;
    return true;
  }
};

inline int ceil_div(idx_t a, idx_t b) { return (int)((a + b - 1) / b); }

// One parallel job: a sub-block C[m0:m0+rows, n0:n0+cols] over the full K.
// Tasks (claimed dynamically by the threads, in index order):
//   [0, nPackA)                  pack a group of MR-row panels of op(A) (all K)
//   [nPackA, nPackA+nPackB)      pack a group of NR-col panels of op(B) (all K)
//   [nPack, nPack + nrb*ncb)     compute a tile (after all packing is done)
// Packed layouts: Apack[p][k][MR], Bpack[q][k][NR] for the full K, so a
// (K-block, panel) slice is contiguous and no per-tile repacking is needed.
struct Plan {
  const Kernel* kr;
  const Problem* p;
  int m0, n0, rows, cols;
  int Mp, Np;  // panels
  int kc;
  int nPackA, nPackB, nPack;
  int nrb, ncb;
  int ntasks;
  float* Apack;
  float* Bpack;
  std::atomic<int> pack_done{0};
};

void compute_tile(const Plan& pl, int t) {
  const Kernel& kr = *pl.kr;
  const Problem& p = *pl.p;
  const int MR = kr.mr, NR = kr.nr, K = p.K;
  const int rb = t / pl.ncb, cb = t % pl.ncb;
  const int p0 = (int)((idx_t)pl.Mp * rb / pl.nrb), p1 = (int)((idx_t)pl.Mp * (rb + 1) / pl.nrb);
  const int q0 = (int)((idx_t)pl.Np * cb / pl.ncb), q1 = (int)((idx_t)pl.Np * (cb + 1) / pl.ncb);
  const int epi = (p.bias ? F_BIAS : 0) | (p.act == 1 ? F_ACT : 0);
  for (int pc = 0; pc < K; pc += pl.kc) {
    const int kc = std::min(pl.kc, K - pc);
    const int flags = (pc > 0 ? F_ACCUM : 0) | (pc + kc >= K ? epi : 0);
    for (int q = q0; q < q1; q++) {
      const int col = q * NR;
      const int nr = std::min(NR, pl.cols - col);
      const float* bp = pl.Bpack + (idx_t)q * K * NR + (idx_t)pc * NR;
      const float* bias = p.bias ? p.bias + pl.n0 + col : nullptr;
      for (int i = p0; i < p1; i++) {
        const int row = i * MR;
        const int mr = std::min(MR, pl.rows - row);
        kr.fn(kc, pl.Apack + (idx_t)i * K * MR + (idx_t)pc * MR, bp,
              p.C + (idx_t)(pl.m0 + row) * p.ldc + pl.n0 + col, p.ldc, mr, nr, bias,
              flags, p.alpha);
      }
    }
  }
}

void run_task(void* ctx, int task) {
  Plan& pl = *static_cast<Plan*>(ctx);
  const Kernel& kr = *pl.kr;
  const Problem& p = *pl.p;
  const int MR = kr.mr, NR = kr.nr, K = p.K;
  if (task < pl.nPackA) {
    const int i0 = (int)((idx_t)pl.Mp * task / pl.nPackA);
    const int i1 = (int)((idx_t)pl.Mp * (task + 1) / pl.nPackA);
    const int r0 = i0 * MR, r1 = std::min(pl.rows, i1 * MR);
    kr.packA(p.A + (idx_t)(pl.m0 + r0) * p.rsA, p.rsA, p.csA, r1 - r0, K,
             pl.Apack + (idx_t)i0 * K * MR);
    pl.pack_done.fetch_add(1, std::memory_order_release);
  } else if (task < pl.nPack) {
    const int t = task - pl.nPackA;
    const int j0 = (int)((idx_t)pl.Np * t / pl.nPackB);
    const int j1 = (int)((idx_t)pl.Np * (t + 1) / pl.nPackB);
    const int c0 = j0 * NR, c1 = std::min(pl.cols, j1 * NR);
    kr.packB(p.B + (idx_t)(pl.n0 + c0) * p.csB, p.rsB, p.csB, K, c1 - c0,
             pl.Bpack + (idx_t)j0 * K * NR);
    pl.pack_done.fetch_add(1, std::memory_order_release);
  } else {
    // All packing tasks were claimed before any compute task; wait for the
    // ones still in progress on other threads.
    int spins = 0;
    while (pl.pack_done.load(std::memory_order_acquire) < pl.nPack) {
      cpu_relax();
      if (++spins > 4096) std::this_thread::yield();
    }
    compute_tile(pl, task - pl.nPack);
  }
}

// ---------------------------------------------------------------------------
// Persistent thread pool with dynamic task claiming. A job is n tasks; the
// caller and the workers claim task indices from a shared ticket
// (job id | n | next) by CAS, so a worker that is descheduled (the machine is
// shared) simply claims fewer tasks instead of stalling the caller. Workers
// spin ~100us for new work after a job (cheap hand-off between the
// back-to-back matmuls of a training step), then block on a condition variable.

using TaskFn = void (*)(void* ctx, int task);

class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 1; i < n; i++) {
      try {
        threads_.emplace_back(&Pool::worker, this);
      } catch (...) {
        break;  // could not create more threads: run with fewer
      }
    }
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_work_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return (int)threads_.size() + 1; }

  // Runs fn(ctx, i) for i in [0, n) on the caller and the workers; returns
  // when all tasks have finished. n < 65536.
  void run(TaskFn fn, void* ctx, int n) {
    if (threads_.empty() || n <= 1) {
      for (int i = 0; i < n; i++) fn(ctx, i);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    job_id_ = (job_id_ + 1) & 0xffffffffu;
    ticket_.store((job_id_ << 32) | ((uint64_t)n << 16));
    {
      std::lock_guard<std::mutex> lk(mu_);
    }
    cv_work_.notify_all();
    work(fn, ctx);
    // All tasks are claimed; wait for those still running on workers.
    if (!spin_until([this] { return inflight_.load() == 0; }, 200)) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_done_.wait(lk, [this] { return inflight_.load() == 0; });
    }
  }

 private:
  static bool has_work(uint64_t t) { return ((t >> 16) & 0xffff) > (t & 0xffff); }

  // Claims and runs tasks of the current job until none is left.
  void work(TaskFn fn, void* ctx) {
    for (;;) {
      uint64_t t = ticket_.load();
      if (!has_work(t)) return;
      if (ticket_.compare_exchange_weak(t, t + 1)) fn(ctx, (int)(t & 0xffff));
    }
  }

  template <typename Pred>
  static bool spin_until(Pred pred, int micros) {
    if (pred()) return true;
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      for (int i = 0; i < 64; i++) {
        if (pred()) return true;
        cpu_relax();
      }
      if (std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(micros))
        return pred();
    }
  }

  void worker() {
    for (;;) {
      auto ready = [this] { return stop_.load() || has_work(ticket_.load()); };
      if (!spin_until(ready, 100)) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_work_.wait(lk, ready);
      }
      if (stop_.load()) return;
      // Announce before claiming (seq_cst): the caller only returns (and
      // reuses fn_/ctx_) once all tasks are claimed and inflight_ is 0.
      inflight_.fetch_add(1);
      for (;;) {
        uint64_t t = ticket_.load();
        if (!has_work(t)) break;
        if (ticket_.compare_exchange_weak(t, t + 1)) fn_(ctx_, (int)(t & 0xffff));
      }
      if (inflight_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        cv_done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> inflight_{0};
  std::atomic<bool> stop_{false};
  uint64_t job_id_ = 0;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
};

// Per-environment state (one per Node environment / worker thread).
struct Addon {
  Pool* pool = nullptr;
  int nthreads = 1;
  const Kernel* kernel = nullptr;
  Blocking blocking;
  Buffer apack, bpack;
  Buffer cols;                    // im2col / col2im matrix of the convolutions
  std::vector<double> partials;   // batch-norm partial sums
  ~Addon() { delete pool; }
};

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  if (hc == 0) hc = 1;
  return (int)std::min<unsigned>(hc, kMaxThreads);
}

void set_pool_size(Addon* ad, int n) {
  n = std::max(1, std::min(kMaxThreads, n));
  if (ad->pool && ad->pool->size() == n) return;
  delete ad->pool;
  ad->pool = nullptr;
  ad->pool = new (std::nothrow) Pool(n);
  ad->nthreads = ad->pool ? ad->pool->size() : 1;
}

inline int round_up(idx_t x, idx_t m) { return (int)((x + m - 1) / m * m); }

// Returns false on allocation failure.
bool run_gemm(Addon* ad, const Problem& p) {
  if (p.M == 0 || p.N == 0) return true;
  const Kernel& kr = *ad->kernel;
  const Blocking& bl = ad->blocking;
  const int MR = kr.mr, NR = kr.nr, K = p.K;
  if (K == 0) {  // C = act(bias)
    for (int i = 0; i < p.M; i++) {
      float* c = p.C + (idx_t)i * p.ldc;
      for (int j = 0; j < p.N; j++) {
        float x = p.bias ? p.bias[j] : 0.0f;
        if (p.act == 1) x = x > 0.0f ? x : x * p.alpha;
        c[j] = x;
      }
    }
    return true;
  }
  int T = ad->pool ? ad->pool->size() : 1;
  if ((double)p.M * p.N * K < bl.mt_threshold) T = 1;

  // Equal K blocks (no tiny tail block).
  const int nkb = ceil_div(K, bl.kc);
  const int kc = ceil_div(K, nkb);

  // Sub-blocks so that each packed operand stays below pack_cap floats.
  const idx_t capRows = std::max<idx_t>(MR, bl.pack_cap / K / MR * MR);
  const idx_t capCols = std::max<idx_t>(NR, bl.pack_cap / K / NR * NR);
  const int subM = ceil_div(p.M, capRows), subN = ceil_div(p.N, capCols);
  const int rowsPer = round_up(ceil_div(p.M, subM), MR);
  const int colsPer = round_up(ceil_div(p.N, subN), NR);
  if (!ad->apack.reserve((size_t)round_up(std::min(rowsPer, round_up(p.M, MR)), MR) * K) ||
      !ad->bpack.reserve((size_t)round_up(std::min(colsPer, round_up(p.N, NR)), NR) * K))
    return false;

  for (int m0 = 0; m0 < p.M; m0 += rowsPer) {
    for (int n0 = 0; n0 < p.N; n0 += colsPer) {
      Plan pl;
      pl.kr = &kr;
      pl.p = &p;
      pl.m0 = m0;
      pl.n0 = n0;
      pl.rows = std::min(rowsPer, p.M - m0);
      pl.cols = std::min(colsPer, p.N - n0);
      pl.Mp = ceil_div(pl.rows, MR);
      pl.Np = ceil_div(pl.cols, NR);
      pl.kc = kc;
      pl.Apack = ad->apack.p;
      pl.Bpack = ad->bpack.p;
      // Packing tasks: ~2 per thread for each operand.
      pl.nPackA = std::min(pl.Mp, T == 1 ? 1 : 2 * T);
      pl.nPackB = std::min(pl.Np, T == 1 ? 1 : 2 * T);
      pl.nPack = pl.nPackA + pl.nPackB;
      // Compute tiles: rows <= mc, cols <= nc, and enough tiles to balance.
      pl.nrb = std::min(pl.Mp, ceil_div(pl.rows, std::max(bl.mc, MR)));
      pl.ncb = std::min(pl.Np, ceil_div(pl.cols, std::max(bl.nc, NR)));
      if (T > 1) {
        const int want = T * bl.tiles_per_thread;
        if (pl.nrb * pl.ncb < want) pl.ncb = std::min(pl.Np, ceil_div(want, pl.nrb));
        if (pl.nrb * pl.ncb < want) pl.nrb = std::min(pl.Mp, ceil_div(want, pl.ncb));
      }
      // The pool's ticket holds 16-bit task indices: coarsen tiles if needed.
      while ((idx_t)pl.nrb * pl.ncb + pl.nPack > 65535) {
        if (pl.ncb > 1)
          pl.ncb = (pl.ncb + 1) / 2;
        else
          pl.nrb = (pl.nrb + 1) / 2;
      }
      pl.ntasks = pl.nPack + pl.nrb * pl.ncb;
      if (T == 1)
        for (int i = 0; i < pl.ntasks; i++) run_task(&pl, i);
      else
        ad->pool->run(run_task, &pl, pl.ntasks);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Convolutions (NHWC, dilation 1) and training-mode batch norm, on the same
// heap and pool as the products. Every output element is reduced in an order
// fixed by the shapes alone (never by the thread count), so results are
// bit-identical for any number of threads:
//  - im2col / col2im tasks own whole rows / whole images;
//  - the products are the GEMM above (tiles never split K);
//  - batch-norm sums go per fixed-size chunk of rows into double partials,
//    which are then added in chunk order on the calling thread.

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

// Splits [0, n) into `tasks` near-equal ranges.
inline void task_range(idx_t n, int tasks, int t, idx_t* b, idx_t* e) {
  *b = n * t / tasks;
  *e = n * (t + 1) / tasks;
}

template <typename F>
struct RangeJob {
  F* f;
  idx_t n;
  int tasks;
  static void run(void* ctx, int t) {
    auto* j = static_cast<RangeJob*>(ctx);
    idx_t b, e;
    task_range(j->n, j->tasks, t, &b, &e);
    if (b < e) (*j->f)(b, e);
  }
};

// Runs f(begin, end) over [0, n) in `tasks` pieces on the pool (the split
// does not change what any element computes).
template <typename F>
void parallel_for(Addon* ad, idx_t n, int tasks, F f) {
  if (n <= 0) return;
  tasks = (int)std::max<idx_t>(1, std::min<idx_t>({(idx_t)tasks, n, 65535}));
  RangeJob<F> job{&f, n, tasks};
  if (tasks == 1 || !ad->pool || ad->pool->size() == 1) {
    for (int t = 0; t < tasks; t++) RangeJob<F>::run(&job, t);
  } else {
    ad->pool->run(RangeJob<F>::run, &job, tasks);
  }
}

inline int work_tasks(Addon* ad, double elems) {
  const int T = ad->pool ? ad->pool->size() : 1;
  if (T == 1 || elems < ad->blocking.stream_mt_threshold) return 1;
  return 4 * T;
}

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

// Rows per partial sum: fixed by M alone (at most 4096 partials).
inline idx_t bn_chunk_rows(idx_t M) { return std::max<idx_t>(256, (M + 4095) / 4096); }

// Per-channel sums over rows of [M, C] data: for each fixed chunk of rows,
// part(chunk, c) accumulates in double; chunks are then added in order.
template <int NS, typename RowFn>
void bn_sums(Addon* ad, idx_t M, int C, double* out, RowFn row) {
  const idx_t R = bn_chunk_rows(M);
  const idx_t chunks = (M + R - 1) / R;
  std::vector<double>& part = ad->partials;
  part.assign((size_t)(chunks * NS * C), 0.0);
  double* pp = part.data();
  parallel_for(ad, chunks, work_tasks(ad, (double)M * C), [&](idx_t c0, idx_t c1) {
    for (idx_t ch = c0; ch < c1; ch++) {
      double* acc = pp + ch * NS * C;
      const idx_t r1 = std::min(M, (ch + 1) * R);
      for (idx_t r = ch * R; r < r1; r++) row(r, acc);
    }
  });
  std::fill(out, out + (size_t)NS * C, 0.0);
  for (idx_t ch = 0; ch < chunks; ch++)
    for (int i = 0; i < NS * C; i++) out[i] += pp[ch * NS * C + i];
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
  bn_sums<2>(ad, M, C, sums.data(), [&](idx_t r, double* acc) {
    const float* xr = x + r * C;
    for (int c = 0; c < C; c++) {
      const double d = (double)xr[c] - (double)sh[c];
      acc[c] += d;
      acc[C + c] += d * d;
    }
  });
  std::vector<float> scale(C);
  for (int c = 0; c < C; c++) {
    const double m1 = sums[c] / (double)M;
    const double var = std::max(0.0, sums[C + c] / (double)M - m1 * m1);
    mean[c] = (float)((double)sh[c] + m1);
    variance[c] = (float)var;
    const double s = (double)gamma[c] * bn_inv_std(variance[c], eps);
    scale[c] = (float)s;
  }
  const float* sc = scale.data();
  const float* mu = mean;
  parallel_for(ad, M, work_tasks(ad, (double)M * C), [&](idx_t r0, idx_t r1) {
    for (idx_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      for (int c = 0; c < C; c++) yr[c] = (xr[c] - mu[c]) * sc[c] + beta[c];
    }
  });
}

// With xhat = (x - mean) * invStd: dbeta = sum dy, dgamma = sum dy * xhat,
// dx = gamma * invStd / M * (M dy - dbeta - xhat dgamma).
void batchnorm_backward(Addon* ad, const float* x, const float* dy, const float* gamma, const float* mean,
                        const float* variance, float* dx, float* dgamma, float* dbeta, idx_t M, int C,
                        double eps) {
  std::vector<double> sums(2 * (size_t)C);
  bn_sums<2>(ad, M, C, sums.data(), [&](idx_t r, double* acc) {
    const float* xr = x + r * C;
    const float* dr = dy + r * C;
    for (int c = 0; c < C; c++) {
      acc[c] += (double)dr[c];
      acc[C + c] += (double)dr[c] * ((double)xr[c] - (double)mean[c]);
    }
  });
  // dx = k1 * dy + k2 * (x - mean) + k3
  std::vector<float> k1(C), k2(C), k3(C);
  for (int c = 0; c < C; c++) {
    const double inv = bn_inv_std(variance[c], eps);
    const double db = sums[c], dg = sums[C + c] * inv;
    dbeta[c] = (float)db;
    dgamma[c] = (float)dg;
    const double a = (double)gamma[c] * inv;
    const double b = -a * inv * dg / (double)M;
    k1[c] = (float)a;
    k2[c] = (float)b;
    k3[c] = (float)(-a * db / (double)M);
  }
  const float *p1 = k1.data(), *p2 = k2.data(), *p3 = k3.data();
  parallel_for(ad, M, work_tasks(ad, (double)M * C), [&](idx_t r0, idx_t r1) {
    for (idx_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      const float* dr = dy + r * C;
      float* o = dx + r * C;
      for (int c = 0; c < C; c++) o[c] = p1[c] * dr[c] + p2[c] * (xr[c] - mean[c]) + p3[c];
    }
  });
}

// Elementwise activations (the wasm backend's LeakyRelu, Tanh and the
// gradient it builds for LeakyRelu/Relu out of Greater, Select and Multiply
// take 10-60 ns an element).
void activation_forward(Addon* ad, int op, const float* x, float* y, idx_t n, float alpha) {
  parallel_for(ad, n, work_tasks(ad, (double)n), [&](idx_t b, idx_t e) {
    if (op == 0) {
      for (idx_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * alpha;
    } else if (op == 2) {
      for (idx_t i = b; i < e; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    } else {
      for (idx_t i = b; i < e; i++) y[i] = std::tanh(x[i]);
    }
  });
}

// dx = dy where x > 0, else alpha * dy (alpha 0: ReLU's gradient).
void leaky_relu_grad(Addon* ad, const float* dy, const float* x, float* dx, idx_t n, float alpha) {
  parallel_for(ad, n, work_tasks(ad, (double)n), [&](idx_t b, idx_t e) {
    for (idx_t i = b; i < e; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha;
  });
}

// ---------------------------------------------------------------------------
// Node-API glue.

#define NAPI_CALL(env, call)                                  \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      const napi_extended_error_info* info = nullptr;         \
      napi_get_last_error_info((env), &info);                 \
      bool pending = false;                                   \
      napi_is_exception_pending((env), &pending);             \
      if (!pending)                                           \
        napi_throw_error((env), nullptr,                      \
                         info && info->error_message          \
                             ? info->error_message            \
                             : "Node-API call failed");       \
      return nullptr;                                         \
    }                                                         \
  } while (0)

Addon* get_addon(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<Addon*>(data);
}

// Reads a non-negative integral number <= maxv. allow_none: undefined / null /
// negative values map to -1.
bool get_int(napi_env env, napi_value v, const char* name, double maxv,
             bool allow_none, int64_t* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (allow_none && (t == napi_undefined || t == napi_null)) {
    *out = -1;
    return true;
  }
  std::string msg;
  if (t != napi_number) {
    msg = std::string(name) + " must be a number";
    napi_throw_type_error(env, nullptr, msg.c_str());
    return false;
  }
  double d = 0;
  napi_get_value_double(env, v, &d);
  if (allow_none && d < 0 && std::isfinite(d) && d == std::floor(d)) {
    *out = -1;
    return true;
  }
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > maxv) {
    msg = std::string(name) + " must be an integer in [0, " +
          std::to_string((long long)maxv) + "]";
    napi_throw_range_error(env, nullptr, msg.c_str());
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool get_bool(napi_env env, napi_value v, bool* out) {
  napi_value b;
  if (napi_coerce_to_bool(env, v, &b) != napi_ok) return false;
  return napi_get_value_bool(env, b, out) == napi_ok;
}

// Accepts an ArrayBuffer, or any TypedArray / DataView (e.g. HEAPU8, which
// also covers a SharedArrayBuffer-backed wasm memory).
bool get_memory(napi_env env, napi_value v, uint8_t** data, uint64_t* len) {
  bool is = false;
  void* p = nullptr;
  napi_is_arraybuffer(env, v, &is);
  if (is) {
    size_t n = 0;
    if (napi_get_arraybuffer_info(env, v, &p, &n) != napi_ok) return false;
    *data = static_cast<uint8_t*>(p);
    *len = n;
    return true;
  }
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type type;
    size_t length = 0, off = 0;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &off) != napi_ok)
      return false;
    size_t es = 1;
    switch (type) {
      case napi_int16_array:
      case napi_uint16_array: es = 2; break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array: es = 4; break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array: es = 8; break;
      default: es = 1;
    }
    *data = static_cast<uint8_t*>(p);
    *len = (uint64_t)length * es;
    return true;
  }
  napi_is_dataview(env, v, &is);
  if (is) {
    size_t n = 0, off = 0;
    napi_value ab;
    if (napi_get_dataview_info(env, v, &n, &p, &ab, &off) != napi_ok) return false;
    *data = static_cast<uint8_t*>(p);
    *len = n;
    return true;
  }
  napi_throw_type_error(env, nullptr,
                        "memory must be an ArrayBuffer, TypedArray or DataView");
  return false;
}

// Checks [off, off + 4*count) lies inside a buffer of `len` bytes.
bool check_range(napi_env env, const char* name, int64_t off, uint64_t count,
                 uint64_t len) {
  const uint64_t bytes = count * 4u;
  std::string msg;
  if (off % 4 != 0) {
    msg = std::string(name) + " offset " + std::to_string(off) +
          " is not 4-byte aligned";
  } else if (bytes > len || (uint64_t)off > len - bytes) {
    msg = std::string(name) + " [" + std::to_string(off) + ", +" +
          std::to_string(bytes) + " bytes) lies outside the buffer (" +
          std::to_string(len) + " bytes)";
  } else {
    return true;
  }
  napi_throw_range_error(env, nullptr, msg.c_str());
  return false;
}

bool overlaps(int64_t a, uint64_t na, int64_t b, uint64_t nb) {
  if (na == 0 || nb == 0) return false;
  return (uint64_t)a < (uint64_t)b + nb * 4 && (uint64_t)b < (uint64_t)a + na * 4;
}

// sgemm(memory, aOffset, bOffset, cOffset, M, N, K, transA, transB,
//       biasOffset = -1, activation = 0, leakAlpha = 0.2)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 7) {
    napi_throw_type_error(env, nullptr,
                          "sgemm(memory, aOffset, bOffset, cOffset, M, N, K, "
                          "transA, transB, biasOffset, activation, leakAlpha)");
    return nullptr;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < 12; i++) argv[i] = undef;

  Addon* ad = get_addon(env);
  if (!ad) {
    napi_throw_error(env, nullptr, "gemm addon not initialised");
    return nullptr;
  }
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;

  const double kMaxOff = 9007199254740991.0;  // 2^53 - 1
  const double kMaxDim = 2147483647.0;
  int64_t aOff, bOff, cOff, M, N, K, biasOff;
  if (!get_int(env, argv[1], "aOffset", kMaxOff, false, &aOff)) return nullptr;
  if (!get_int(env, argv[2], "bOffset", kMaxOff, false, &bOff)) return nullptr;
  if (!get_int(env, argv[3], "cOffset", kMaxOff, false, &cOff)) return nullptr;
  if (!get_int(env, argv[4], "M", kMaxDim, false, &M)) return nullptr;
  if (!get_int(env, argv[5], "N", kMaxDim, false, &N)) return nullptr;
  if (!get_int(env, argv[6], "K", kMaxDim, false, &K)) return nullptr;
  bool transA = false, transB = false;
  if (!get_bool(env, argv[7], &transA) || !get_bool(env, argv[8], &transB)) return nullptr;
  if (!get_int(env, argv[9], "biasOffset", kMaxOff, true, &biasOff)) return nullptr;
  int64_t act = 0;
  napi_valuetype t;
  napi_typeof(env, argv[10], &t);
  if (t != napi_undefined && t != napi_null) {
    if (!get_int(env, argv[10], "activation", 1, false, &act)) return nullptr;
  }
  double alpha = 0.2;
  napi_typeof(env, argv[11], &t);
  if (t != napi_undefined && t != napi_null) {
    if (t != napi_number) {
      napi_throw_type_error(env, nullptr, "leakAlpha must be a number");
      return nullptr;
    }
    napi_get_value_double(env, argv[11], &alpha);
  }

  const uint64_t nA = (uint64_t)M * (uint64_t)K, nB = (uint64_t)K * (uint64_t)N,
                 nC = (uint64_t)M * (uint64_t)N;
  if (!check_range(env, "A", aOff, nA, len)) return nullptr;
  if (!check_range(env, "B", bOff, nB, len)) return nullptr;
  if (!check_range(env, "C", cOff, nC, len)) return nullptr;
  if (biasOff >= 0 && !check_range(env, "bias", biasOff, (uint64_t)N, len)) return nullptr;
  if (overlaps(cOff, nC, aOff, nA) || overlaps(cOff, nC, bOff, nB) ||
      (biasOff >= 0 && overlaps(cOff, nC, biasOff, (uint64_t)N))) {
    napi_throw_range_error(env, nullptr, "C must not overlap A, B or bias");
    return nullptr;
  }

  Problem p;
  p.A = reinterpret_cast<const float*>(base + aOff);
  p.B = reinterpret_cast<const float*>(base + bOff);
  p.C = reinterpret_cast<float*>(base + cOff);
  p.M = (int)M;
  p.N = (int)N;
  p.K = (int)K;
  // op(A)(i,k): A stored [M,K] -> A[i*K+k]; transA: stored [K,M] -> A[k*M+i]
  p.rsA = transA ? 1 : (idx_t)K;
  p.csA = transA ? (idx_t)M : 1;
  // op(B)(k,j): B stored [K,N] -> B[k*N+j]; transB: stored [N,K] -> B[j*K+k]
  p.rsB = transB ? 1 : (idx_t)N;
  p.csB = transB ? (idx_t)K : 1;
  p.ldc = (idx_t)N;
  p.bias = biasOff >= 0 ? reinterpret_cast<const float*>(base + biasOff) : nullptr;
  p.act = (int)act;
  p.alpha = (float)alpha;
  if (!run_gemm(ad, p)) {
    napi_throw_error(env, nullptr, "sgemm: out of memory for packing buffers");
    return nullptr;
  }
  return nullptr;
}

// adamUpdate(memory, pOffset, mOffset, vOffset, gOffset, outOffset, n,
//            beta1, beta2, stepSize, invSqrtBias2, epsilon)
// One pass of Adam (PyTorch's form) over n floats: m and v are updated in place, the new
// parameters go to `out` (a fresh tensor, so kernels that cache packed weights by tensor id
// never see stale values). Replaces ~13 elementwise wasm kernels per variable.
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 12) {
    napi_throw_type_error(env, nullptr,
                          "adamUpdate(memory, pOffset, mOffset, vOffset, gOffset, outOffset, n, "
                          "beta1, beta2, stepSize, invSqrtBias2, epsilon)");
    return nullptr;
  }
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  const double kMaxOff = 9007199254740991.0;
  int64_t off[5], n;
  const char* names[5] = {"pOffset", "mOffset", "vOffset", "gOffset", "outOffset"};
  for (int i = 0; i < 5; i++)
    if (!get_int(env, argv[1 + i], names[i], kMaxOff, false, &off[i])) return nullptr;
  if (!get_int(env, argv[6], "n", kMaxOff, false, &n)) return nullptr;
  for (int i = 0; i < 5; i++)
    if (!check_range(env, names[i], off[i], (uint64_t)n, len)) return nullptr;
  double s[5];
  for (int i = 0; i < 5; i++) {
    napi_valuetype t;
    napi_typeof(env, argv[7 + i], &t);
    if (t != napi_number) {
      napi_throw_type_error(env, nullptr, "adamUpdate: beta1, beta2, stepSize, invSqrtBias2, epsilon must be numbers");
      return nullptr;
    }
    napi_get_value_double(env, argv[7 + i], &s[i]);
  }
  const float* p = reinterpret_cast<const float*>(base + off[0]);
  float* m = reinterpret_cast<float*>(base + off[1]);
  float* v = reinterpret_cast<float*>(base + off[2]);
  const float* g = reinterpret_cast<const float*>(base + off[3]);
  float* out = reinterpret_cast<float*>(base + off[4]);
  const float b1 = (float)s[0], b2 = (float)s[1], step = (float)s[2], inv = (float)s[3], eps = (float)s[4];
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    out[i] = p[i] - step * mi / (std::sqrt(vi) * inv + eps);
  }
  return nullptr;
}

// Reads argv[first .. first+n) as non-negative heap offsets / integers.
bool get_ints(napi_env env, const napi_value* argv, int first, int n, const char* const* names,
              int64_t* out) {
  for (int i = 0; i < n; i++)
    if (!get_int(env, argv[first + i], names[i], 9007199254740991.0, false, &out[i])) return false;
  return true;
}

bool get_number(napi_env env, napi_value v, const char* name, double* out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    std::string msg = std::string(name) + " must be a number";
    napi_throw_type_error(env, nullptr, msg.c_str());
    return false;
  }
  return napi_get_value_double(env, v, out) == napi_ok;
}

// geometry: [N, H, W, C, kH, kW, outC, outH, outW, sH, sW, top, left]
bool get_geom(napi_env env, napi_value v, ConvGeom* g) {
  bool is = false;
  napi_is_array(env, v, &is);
  uint32_t n = 0;
  if (is) napi_get_array_length(env, v, &n);
  if (!is || n != 13) {
    napi_throw_type_error(env, nullptr,
                          "geometry must be [N, H, W, C, kH, kW, outC, outH, outW, sH, sW, top, left]");
    return false;
  }
  int vals[13];
  for (uint32_t i = 0; i < 13; i++) {
    napi_value e;
    int64_t x;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_int(env, e, "geometry entry", 1 << 30, false, &x))
      return false;
    vals[i] = (int)x;
  }
  *g = ConvGeom{vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6],
                vals[7], vals[8], vals[9], vals[10], vals[11], vals[12]};
  if (g->sH < 1 || g->sW < 1 || (double)g->M() * g->K() > 2147483647.0 ||
      (double)g->N * g->H * g->W * g->C > 2147483647.0) {
    napi_throw_range_error(env, nullptr, "geometry: strides must be >= 1 and the matrices < 2^31 elements");
    return false;
  }
  return true;
}

// conv2d(memory, xOff, wOff, yOff, geometry)                    y = conv(x, w)
// conv2dBackpropInput(memory, dyOff, wOff, dxOff, geometry)     dx of conv(x, w)
// conv2dBackpropFilter(memory, xOff, dyOff, dwOff, geometry)    dw of conv(x, w)
// NHWC; w is [kH, kW, C, outC]; y / dy are [N, outH, outW, outC].
template <int Which>
napi_value ConvOp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  static const char* const kNames[3][3] = {{"xOffset", "wOffset", "yOffset"},
                                           {"dyOffset", "wOffset", "dxOffset"},
                                           {"xOffset", "dyOffset", "dwOffset"}};
  if (argc < 5) {
    napi_throw_type_error(env, nullptr, "conv: (memory, offset, offset, offset, geometry)");
    return nullptr;
  }
  Addon* ad = get_addon(env);
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t off[3];
  if (!get_ints(env, argv, 1, 3, kNames[Which], off)) return nullptr;
  ConvGeom g;
  if (!get_geom(env, argv[4], &g)) return nullptr;
  const uint64_t nx = (uint64_t)g.N * g.H * g.W * g.C, nw = (uint64_t)g.K() * g.outC,
                 ny = (uint64_t)g.M() * g.outC;
  const uint64_t counts[3][3] = {{nx, nw, ny}, {ny, nw, nx}, {nx, ny, nw}};
  for (int i = 0; i < 3; i++)
    if (!check_range(env, kNames[Which][i], off[i], counts[Which][i], len)) return nullptr;
  if (overlaps(off[2], counts[Which][2], off[0], counts[Which][0]) ||
      overlaps(off[2], counts[Which][2], off[1], counts[Which][1])) {
    napi_throw_range_error(env, nullptr, "conv: the output must not overlap the inputs");
    return nullptr;
  }
  const float* a = reinterpret_cast<const float*>(base + off[0]);
  const float* b = reinterpret_cast<const float*>(base + off[1]);
  float* out = reinterpret_cast<float*>(base + off[2]);
  const bool ok = Which == 0   ? conv2d_forward(ad, a, b, out, g)
                  : Which == 1 ? conv2d_backprop_input(ad, a, b, out, g)
                               : conv2d_backprop_filter(ad, a, b, out, g);
  if (!ok) napi_throw_error(env, nullptr, "conv: out of memory for the im2col buffer");
  return nullptr;
}

// batchNormForward(memory, xOff, gammaOff, betaOff, yOff, meanOff, varianceOff, M, C, epsilon)
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 10) {
    napi_throw_type_error(env, nullptr, "batchNormForward(memory, xOff, gammaOff, betaOff, yOff, meanOff, varianceOff, M, C, epsilon)");
    return nullptr;
  }
  static const char* const kNames[8] = {"xOffset", "gammaOffset", "betaOffset", "yOffset", "meanOffset", "varianceOffset", "M", "C"};
  Addon* ad = get_addon(env);
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t v[8];
  double eps;
  if (!get_ints(env, argv, 1, 8, kNames, v) || !get_number(env, argv[9], "epsilon", &eps)) return nullptr;
  const int64_t M = v[6], C = v[7];
  if (M < 1 || C < 1 || C > (1 << 24)) {
    napi_throw_range_error(env, nullptr, "batchNormForward: M and C must be >= 1");
    return nullptr;
  }
  const uint64_t counts[6] = {(uint64_t)(M * C), (uint64_t)C, (uint64_t)C, (uint64_t)(M * C), (uint64_t)C, (uint64_t)C};
  for (int i = 0; i < 6; i++)
    if (!check_range(env, kNames[i], v[i], counts[i], len)) return nullptr;
  for (int o = 3; o < 6; o++)
    for (int i = 0; i < 3; i++)
      if (overlaps(v[o], counts[o], v[i], counts[i])) {
        napi_throw_range_error(env, nullptr, "batchNormForward: outputs must not overlap inputs");
        return nullptr;
      }
  auto f = [&](int i) { return reinterpret_cast<float*>(base + v[i]); };
  batchnorm_forward(ad, f(0), f(1), f(2), f(3), f(4), f(5), M, (int)C, eps);
  return nullptr;
}

// batchNormBackward(memory, xOff, dyOff, gammaOff, meanOff, varianceOff, dxOff, dgammaOff,
//                   dbetaOff, M, C, epsilon)
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 12) {
    napi_throw_type_error(env, nullptr, "batchNormBackward(memory, xOff, dyOff, gammaOff, meanOff, varianceOff, dxOff, dgammaOff, dbetaOff, M, C, epsilon)");
    return nullptr;
  }
  static const char* const kNames[10] = {"xOffset", "dyOffset", "gammaOffset", "meanOffset", "varianceOffset", "dxOffset", "dgammaOffset", "dbetaOffset", "M", "C"};
  Addon* ad = get_addon(env);
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t v[10];
  double eps;
  if (!get_ints(env, argv, 1, 10, kNames, v) || !get_number(env, argv[11], "epsilon", &eps)) return nullptr;
  const int64_t M = v[8], C = v[9];
  if (M < 1 || C < 1 || C > (1 << 24)) {
    napi_throw_range_error(env, nullptr, "batchNormBackward: M and C must be >= 1");
    return nullptr;
  }
  const uint64_t MC = (uint64_t)(M * C);
  const uint64_t counts[8] = {MC, MC, (uint64_t)C, (uint64_t)C, (uint64_t)C, MC, (uint64_t)C, (uint64_t)C};
  for (int i = 0; i < 8; i++)
    if (!check_range(env, kNames[i], v[i], counts[i], len)) return nullptr;
  for (int o = 5; o < 8; o++)
    for (int i = 0; i < 5; i++)
      if (overlaps(v[o], counts[o], v[i], counts[i])) {
        napi_throw_range_error(env, nullptr, "batchNormBackward: outputs must not overlap inputs");
        return nullptr;
      }
  auto f = [&](int i) { return reinterpret_cast<float*>(base + v[i]); };
  batchnorm_backward(ad, f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), M, (int)C, eps);
  return nullptr;
}

// activation(memory, op, xOff, yOff, n, alpha): op 0 LeakyReLU(alpha), 1 tanh, 2 ReLU.
napi_value Activation(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 6) {
    napi_throw_type_error(env, nullptr, "activation(memory, op, xOff, yOff, n, alpha)");
    return nullptr;
  }
  static const char* const kNames[4] = {"op", "xOffset", "yOffset", "n"};
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t v[4];
  double alpha;
  if (!get_ints(env, argv, 1, 4, kNames, v) || !get_number(env, argv[5], "alpha", &alpha)) return nullptr;
  if (v[0] > 2) {
    napi_throw_range_error(env, nullptr, "activation: op must be 0 (LeakyReLU), 1 (tanh) or 2 (ReLU)");
    return nullptr;
  }
  if (!check_range(env, "x", v[1], (uint64_t)v[3], len) || !check_range(env, "y", v[2], (uint64_t)v[3], len)) return nullptr;
  activation_forward(get_addon(env), (int)v[0], reinterpret_cast<const float*>(base + v[1]),
                     reinterpret_cast<float*>(base + v[2]), v[3], (float)alpha);
  return nullptr;
}

// leakyReluGrad(memory, dyOff, xOff, dxOff, n, alpha)
napi_value LeakyReluGrad(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 6) {
    napi_throw_type_error(env, nullptr, "leakyReluGrad(memory, dyOff, xOff, dxOff, n, alpha)");
    return nullptr;
  }
  static const char* const kNames[4] = {"dyOffset", "xOffset", "dxOffset", "n"};
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t v[4];
  double alpha;
  if (!get_ints(env, argv, 1, 4, kNames, v) || !get_number(env, argv[5], "alpha", &alpha)) return nullptr;
  for (int i = 0; i < 3; i++)
    if (!check_range(env, kNames[i], v[i], (uint64_t)v[3], len)) return nullptr;
  leaky_relu_grad(get_addon(env), reinterpret_cast<const float*>(base + v[0]), reinterpret_cast<const float*>(base + v[1]),
                  reinterpret_cast<float*>(base + v[2]), v[3], (float)alpha);
  return nullptr;
}

napi_value Threads(napi_env env, napi_callback_info info) {
  Addon* ad = get_addon(env);
  napi_value r;
  NAPI_CALL(env, napi_create_int32(env, ad ? ad->nthreads : 1, &r));
  return r;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Addon* ad = get_addon(env);
  int64_t n = 0;
  if (argc < 1 || !get_int(env, argv[0], "n", 1e9, false, &n)) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_type_error(env, nullptr, "setThreads(n) needs a number");
    return nullptr;
  }
  if (n == 0) n = default_threads();
  set_pool_size(ad, (int)n);
  napi_value r;
  NAPI_CALL(env, napi_create_int32(env, ad->nthreads, &r));
  return r;
}

napi_value KernelName(napi_env env, napi_callback_info info) {
  Addon* ad = get_addon(env);
  napi_value r;
  NAPI_CALL(env, napi_create_string_utf8(env, ad->kernel->name, NAPI_AUTO_LENGTH, &r));
  return r;
}

// setKernel(name): "auto", a family ("avx2", "avx512", "generic") or an exact
// name from kernels(). Returns the selected name; throws if unsupported.
napi_value SetKernel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Addon* ad = get_addon(env);
  char buf[64] = {0};
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], buf, sizeof buf, &n) != napi_ok) {
    napi_throw_type_error(env, nullptr, "setKernel(name) needs a string");
    return nullptr;
  }
  const std::string name(buf, n);
  const Kernel* k = name == "auto" ? default_kernel() : find_kernel(name);
  if (!k) {
    std::string msg = "kernel '" + name + "' is unknown or not supported by this CPU";
    napi_throw_error(env, nullptr, msg.c_str());
    return nullptr;
  }
  ad->kernel = k;
  napi_value r;
  NAPI_CALL(env, napi_create_string_utf8(env, k->name, NAPI_AUTO_LENGTH, &r));
  return r;
}

// kernels(): names of the kernels usable on this CPU.
napi_value Kernels(napi_env env, napi_callback_info info) {
  napi_value arr;
  NAPI_CALL(env, napi_create_array(env, &arr));
  uint32_t idx = 0;
  for (int i = 0; i < kNumKernels; i++) {
    if (!kKernels[i].supported()) continue;
    napi_value s;
    NAPI_CALL(env, napi_create_string_utf8(env, kKernels[i].name, NAPI_AUTO_LENGTH, &s));
    NAPI_CALL(env, napi_set_element(env, arr, idx++, s));
  }
  return arr;
}

// _setBlocking(mc, kc, nc, mtThreshold, tilesPerThread, packCapFloats, streamMtThreshold):
// tuning hook (0 keeps a value).
napi_value SetBlocking(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Addon* ad = get_addon(env);
  double v[7] = {0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < argc && i < 7; i++) napi_get_value_double(env, argv[i], &v[i]);
  if (v[6] >= 1) ad->blocking.stream_mt_threshold = v[6];
  if (v[0] >= 1) ad->blocking.mc = (int)std::min(v[0], 4096.0);
  if (v[1] >= 1) ad->blocking.kc = (int)std::min(v[1], 4096.0);
  if (v[2] >= 1) ad->blocking.nc = (int)std::min(v[2], 65536.0);
  if (v[3] >= 1) ad->blocking.mt_threshold = v[3];
  if (v[4] >= 1) ad->blocking.tiles_per_thread = (int)std::min(v[4], 64.0);
  if (v[5] >= 1) ad->blocking.pack_cap = (idx_t)std::min(v[5], 1e9);
  napi_value r, x;
  NAPI_CALL(env, napi_create_object(env, &r));
  napi_create_int32(env, ad->blocking.mc, &x);
  napi_set_named_property(env, r, "mc", x);
  napi_create_int32(env, ad->blocking.kc, &x);
  napi_set_named_property(env, r, "kc", x);
  napi_create_int32(env, ad->blocking.nc, &x);
  napi_set_named_property(env, r, "nc", x);
  napi_create_double(env, ad->blocking.mt_threshold, &x);
  napi_set_named_property(env, r, "mtThreshold", x);
  napi_create_int32(env, ad->blocking.tiles_per_thread, &x);
  napi_set_named_property(env, r, "tilesPerThread", x);
  napi_create_double(env, (double)ad->blocking.pack_cap, &x);
  napi_set_named_property(env, r, "packCap", x);
  napi_create_double(env, ad->blocking.stream_mt_threshold, &x);
  napi_set_named_property(env, r, "streamMtThreshold", x);
  return r;
}

// Joins the pool's threads when the environment is torn down (normal exit,
// worker_threads termination), so Node never exits with live joinable threads.
void FinalizeAddon(napi_env env, void* data, void* hint) {
  delete static_cast<Addon*>(data);
}

}  // namespace

NAPI_MODULE_INIT() {
  Addon* ad = new (std::nothrow) Addon();
  if (!ad) {
    napi_throw_error(env, nullptr, "gemm: out of memory");
    return nullptr;
  }
  ad->kernel = default_kernel();
  if (const char* k = std::getenv("GEMM_KERNEL")) {
    if (const Kernel* kk = find_kernel(k)) ad->kernel = kk;
  }
  int nt = default_threads();
  if (const char* s = std::getenv("GEMM_THREADS")) {
    int v = std::atoi(s);
    if (v > 0) nt = v;
  }
  set_pool_size(ad, nt);
  if (const char* s = std::getenv("GEMM_STREAM_MT")) {
    double v = std::atof(s);
    if (v > 0) ad->blocking.stream_mt_threshold = v;
  }
  if (napi_set_instance_data(env, ad, FinalizeAddon, nullptr) != napi_ok) {
    delete ad;
    napi_throw_error(env, nullptr, "gemm: napi_set_instance_data failed");
    return nullptr;
  }
  const napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2d", nullptr, ConvOp<0>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropInput", nullptr, ConvOp<1>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropFilter", nullptr, ConvOp<2>, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"activation", nullptr, Activation, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"leakyReluGrad", nullptr, LeakyReluGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"kernel", nullptr, KernelName, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"kernels", nullptr, Kernels, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setKernel", nullptr, SetKernel, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"_setBlocking", nullptr, SetBlocking, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
