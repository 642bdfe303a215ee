// Persistent thread pool with dynamic task claiming, shared by the products and
// the memory-bound passes. A job is n tasks; the caller and the workers claim
// task indices from a shared ticket (job id | n | next) by CAS, so a worker that
// is descheduled (the machine is shared) simply claims fewer tasks instead of
// stalling the caller. Workers spin ~100us for new work after a job (cheap
// hand-off between the back-to-back matmuls of a training step), then block on
// a condition variable.
#pragma once

#include "common.h"

namespace {

constexpr int kMaxThreads = 8;

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

}  // namespace
