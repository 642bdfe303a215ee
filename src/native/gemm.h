// The blocked SGEMM driver, C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N]) (then
// LeakyReLU), on top of the micro-kernels of gemm_kernels.h. Compute tiles are
// <= MC rows (A block in L2) x <= NC columns. A product is one job of tasks
// claimed dynamically from the pool's ticket: first the packing tasks (both
// operands are packed once, cooperatively, into shared buffers), then the
// compute tiles, so a descheduled worker on a busy machine does not stall the
// caller. Small products run single-threaded.
#pragma once

#include "addon_state.h"
#include "common.h"
#include "gemm_kernels.h"
#include "pool.h"

namespace {

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

}  // namespace
