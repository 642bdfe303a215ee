// Native kernels for Node.js (Node-API, plain C API), designed to operate
// directly on a tfjs-wasm heap (zero copy): SGEMM, convolutions, batch norm,
// activations and Adam. This file is the Node-API glue (argument checks, the
// exported functions, module init); the kernels live in the headers below.
// It is the addon's only translation unit (built as gemm.node): the headers are
// included once, in this order, so the compiler sees the kernels and the glue
// together, as when they were one file, and inlines across them.

#include <node_api.h>

#include "common.h"
#include "pool.h"
#include "gemm_kernels.h"
#include "addon_state.h"
#include "gemm.h"
#include "parallel.h"
#include "conv.h"
#include "batchnorm.h"
#include "activations.h"
#include "adam.h"

namespace {

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
// One pass of Adam over n floats (adam_update, adam.h).
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
  adam_update(p, m, v, g, out, n, b1, b2, step, inv, eps);
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

// activationGrad(memory, op, dyOff, xOff, dxOff, n, alpha): op 0 LeakyReLU(alpha) / ReLU
// (alpha 0) from the input x; op 1 tanh from its output (given as x).
napi_value ActivationGrad(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 7) {
    napi_throw_type_error(env, nullptr, "activationGrad(memory, op, dyOff, xOff, dxOff, n, alpha)");
    return nullptr;
  }
  static const char* const kNames[5] = {"op", "dyOffset", "xOffset", "dxOffset", "n"};
  uint8_t* base = nullptr;
  uint64_t len = 0;
  if (!get_memory(env, argv[0], &base, &len)) return nullptr;
  int64_t v[5];
  double alpha;
  if (!get_ints(env, argv, 1, 5, kNames, v) || !get_number(env, argv[6], "alpha", &alpha)) return nullptr;
  if (v[0] > 1) {
    napi_throw_range_error(env, nullptr, "activationGrad: op must be 0 (LeakyReLU/ReLU) or 1 (tanh)");
    return nullptr;
  }
  for (int i = 1; i < 4; i++)
    if (!check_range(env, kNames[i], v[i], (uint64_t)v[4], len)) return nullptr;
  activation_grad(get_addon(env), (int)v[0], reinterpret_cast<const float*>(base + v[1]), reinterpret_cast<const float*>(base + v[2]),
                  reinterpret_cast<float*>(base + v[3]), v[4], (float)alpha);
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
      {"activationGrad", nullptr, ActivationGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
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
