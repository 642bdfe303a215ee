// Elementwise activations and their gradients, done natively because the wasm
// backend's LeakyRelu, Tanh and the gradient it builds for LeakyRelu/Relu out
// of Greater, Select and Multiply take 10-60 ns an element. Multi-threaded over
// ranges; an element's result does not depend on the split.
#pragma once

#include "addon_state.h"
#include "common.h"
#include "parallel.h"

namespace {

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

// op 0: dx = dy where x > 0, else alpha * dy (alpha 0: ReLU's gradient);
// op 1: dx = dy * (1 - y^2), tanh's gradient from its output y (passed as x).
void activation_grad(Addon* ad, int op, const float* dy, const float* x, float* dx, idx_t n, float alpha) {
  parallel_for(ad, n, work_tasks(ad, (double)n), [&](idx_t b, idx_t e) {
    if (op == 0) {
      for (idx_t i = b; i < e; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha;
    } else {
      for (idx_t i = b; i < e; i++) dx[i] = dy[i] * (1.0f - x[i] * x[i]);
    }
  });
}

}  // namespace
