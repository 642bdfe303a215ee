// Shared by every kernel family of the native addon: the standard headers, the
// x86 SIMD switch, the element index type and 64-byte-aligned scratch buffers.
// The addon is one translation unit (addon.cc includes these headers in order),
// so each header keeps its definitions in the anonymous namespace, as the single
// source file did: internal linkage lets the compiler inline and specialise freely.
#pragma once

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

inline void cpu_relax() {
#if GEMM_X86
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

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
inline int round_up(idx_t x, idx_t m) { return (int)((x + m - 1) / m * m); }

}  // namespace
