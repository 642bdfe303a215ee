// Per-environment state of the addon (one per Node environment / worker thread):
// the tuning knobs, the pool, the chosen kernel and the scratch buffers. Node
// may load the addon in several worker threads, so nothing here is global.
#pragma once

#include "common.h"
#include "gemm_kernels.h"
#include "pool.h"

namespace {

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

}  // namespace
