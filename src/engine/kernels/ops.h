// The element-wise and row-wise operations of a transformer layer that are
// not matrix products: RMS normalisation, rotary embeddings, softmax, SwiGLU.
// Pure functions, thread-safe; each row's result depends only on that row.
#pragma once

#include <cstdint>

namespace aperture::engine {

// Dot product with a fixed reduction order on every ISA (see matmul.h).
float DotF32(const float* a, const float* b, int64_t n);

// out[r] = DotF32(q, rows + r * stride, n) * scale for r in [0, count):
// attention scores over a cache's positions in one call.
void DotRowsF32(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale, float* out);

// y += w[r] * (rows + r * stride)[0..n) for r = 0, 1, ... in turn, each as
// Axpy does it: the attention-weighted sum of a cache's values.
void AxpyRowsF32(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y);

// out = x / sqrt(mean(x^2) + eps) * w  (w may be null: no gain). out may alias x.
void RmsNorm(const float* x, const float* w, float eps, int64_t n, float* out);

// Rotates consecutive pairs (x[2i], x[2i+1]) of the first rope_dim entries of
// each of n_heads heads of width head_dim by angle i: cos_sin holds
// rope_dim/2 (cos, sin) pairs.
void RopeNorm(float* x, int n_heads, int head_dim, int rope_dim, const float* cos_sin);

// Rotates the pairs (x[i], x[i + rope_dim/2]) of each head (NeoX-style
// RoPE, as Qwen, Phi-3 and Gemma use), cos_sin as for RopeNorm.
void RopeHalves(float* x, int n_heads, int head_dim, int rope_dim, const float* cos_sin);

// The index of the first largest of x[0..n) (-1 when n = 0); x holds no NaN.
int64_t ArgMaxF32(const float* x, int64_t n);

// out[i] = exp((x[i] - shift) * scale), the same float on every ISA
// (matmul_kernels.h gives the method: about 1 ulp; exactly 0 below e^-87,
// +inf above e^88.3). out may alias x.
void ExpShifted(const float* x, float shift, float scale, int64_t n, float* out);

// In place, over n values: x = exp(x - max) / sum.
void Softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]; out must not alias gate.
void SiluMul(const float* gate, const float* up, int64_t n, float* out);

// out[i] = gelu(gate[i]) * up[i] with GELU's tanh approximation
// (x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))), the same float on every
// ISA (through ExpShifted); out must not alias gate or up.
void GeluTanhMul(const float* gate, const float* up, int64_t n, float* out);

// In place: x = cap * tanh(x / cap) (logit soft-capping), the same float on
// every ISA; cap > 0.
void SoftCap(float* x, int64_t n, float cap);

// y[i] += a * x[i].
void Axpy(float a, const float* x, int64_t n, float* y);

// y[i] += x[i].
void AddInPlace(const float* x, int64_t n, float* y);

}  // namespace aperture::engine
