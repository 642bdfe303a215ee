// Range splitting on the addon's pool for the memory-bound passes (im2col,
// col2im, batch norm, activations). The split is fixed by the sizes and never
// changes what an element computes, and small passes stay on the calling
// thread, where waking a worker would cost more than it saves.
#pragma once

#include "addon_state.h"
#include "common.h"

namespace {

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

}  // namespace
