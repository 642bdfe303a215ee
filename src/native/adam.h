// Adam's update (PyTorch's form) in one pass over a variable: it replaces ~13
// elementwise wasm kernels per variable and step.
#pragma once

#include "common.h"

namespace {

// m and v are updated in place; the new parameters go to `out` (a fresh tensor,
// so kernels that cache packed weights by tensor id never see stale values).
void adam_update(const float* p, float* m, float* v, const float* g, float* out, int64_t n,
                 float b1, float b2, float step, float inv, float eps) {
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    out[i] = p[i] - step * mi / (std::sqrt(vi) * inv + eps);
  }
}

}  // namespace
