// Depthwise 2-D convolution (NHWC, float32, TF 'SAME' padding) for XLA:CPU via the XLA FFI.
//
// Handlers (the Python side is imagenet/depthwise_native.py):
//   DepthwiseForward(x, kernel) -> y                   y = dwconv(x)
//   DepthwiseBackward(g, kernel) -> dx                 dx = dwconv^T(g)
//   ActivatedForward(z, offset, kernel, out_offset) -> y
//                                    y = relu6(dwconv(relu6(z + offset)) + out_offset)
//   ActivatedBackward(g, kernel, offset, z) -> dz      dz = [0 < z + offset < 6] * dwconv^T(g)
// The activated pair takes the expand convolution's output before its BatchNorm
// offset and ReLU6, so the activated tensor (the largest of an MBConv block) is
// never written out, and its ReLU6 mask is applied where the gradient is formed;
// the forward also applies the depthwise BatchNorm's offset and ReLU6 to its output
// (the backward takes g already masked by that ReLU6's derivative).
//
// Padding is handled by bounds (no padded copy). Sixteen channels at a time are
// summed over the taps in a vector register (GCC vector extensions: one AVX-512
// register, two AVX ones). Rows are shared out over XLA's intra-op thread pool.
//
// Shapes: x, z f32[..., h, w, c] (leading dims form one batch), kernel f32[..., k, k, c]
// and offset f32[..., c] (leading dims all 1: what vmap's "expand_dims" gives an
// unbatched operand), y and g f32[..., ho, wo, c]. Attributes: stride, pad_top, pad_left
// (TF 'SAME': ho = ceil(h / stride), the odd extra padding row at the bottom).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

typedef float Vec __attribute__((vector_size(64)));
typedef int32_t Mask __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

struct Geometry {
  int64_t n, h, w, c, k, ho, wo;
};

// Images in a batch: the product of all but the last three dimensions.
int64_t Images(ffi::Span<const int64_t> dims) {
  int64_t n = 1;
  for (size_t i = 0; i + 3 < dims.size(); ++i) n *= dims[i];
  return n;
}

bool LeadingOnes(ffi::Span<const int64_t> dims, size_t trailing) {
  for (size_t i = 0; i + trailing < dims.size(); ++i) {
    if (dims[i] != 1) return false;
  }
  return true;
}

// Checks shapes; `in` is the operand read per tap (x or g), `out` the result.
ffi::Error ReadGeometry(ffi::Span<const int64_t> in, ffi::Span<const int64_t> kernel,
                        ffi::Span<const int64_t> out, bool forward, Geometry* g) {
  if (in.size() < 4 || kernel.size() < 3 || out.size() != in.size()) {
    return ffi::Error::InvalidArgument("depthwise: expected operands of rank >= 4 and a kernel of rank >= 3");
  }
  if (!LeadingOnes(kernel, 3)) {
    return ffi::Error::InvalidArgument("depthwise: a batched kernel is not supported");
  }
  const size_t r = in.size(), kr = kernel.size();
  g->n = Images(in);
  g->c = in[r - 1];
  g->k = kernel[kr - 2];
  if (kernel[kr - 1] != g->c || out[r - 1] != g->c || kernel[kr - 3] != g->k || Images(out) != g->n) {
    return ffi::Error::InvalidArgument("depthwise: channel, batch or kernel shape mismatch");
  }
  if (forward) {
    g->h = in[r - 3], g->w = in[r - 2], g->ho = out[r - 3], g->wo = out[r - 2];
  } else {
    g->ho = in[r - 3], g->wo = in[r - 2], g->h = out[r - 3], g->w = out[r - 2];
  }
  return ffi::Error::Success();
}

ffi::Error CheckOffset(ffi::Span<const int64_t> offset, int64_t c) {
  if (offset.size() == 0 || offset.back() != c || !LeadingOnes(offset, 1)) {
    return ffi::Error::InvalidArgument("depthwise: offset must be f32[c] (unbatched)");
  }
  return ffi::Error::Success();
}

// A run of kernel taps along one axis: tap a reads source index src0 + a * src_step
// with kernel index k0 + a * k_step, for a in [0, n).
struct Taps {
  int64_t src0, src_step, k0, k_step, n;
};

// Forward taps for output index o: input o * stride - pad + i, for the kernel indices
// i that land inside [0, size).
inline Taps ForwardTaps(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t size) {
  const int64_t first = std::max<int64_t>(0, pad - o * stride);
  const int64_t last = std::min<int64_t>(k, size + pad - o * stride);
  return Taps{o * stride - pad + first, 1, first, 1, std::max<int64_t>(0, last - first)};
}

// Backward taps for input index u: output (u + pad - i) / stride, for the kernel
// indices i with u + pad - i a multiple of the stride and the output inside [0, out_size).
inline Taps BackwardTaps(int64_t u, int64_t stride, int64_t pad, int64_t k, int64_t out_size) {
  int64_t first = (u + pad) % stride;                                // smallest i of the right parity
  const int64_t over = (u + pad - first) / stride - (out_size - 1);  // outputs past the end
  if (over > 0) first += over * stride;
  int64_t n = 0;
  if (first < k && u + pad - first >= 0) {
    n = std::min((k - 1 - first) / stride + 1, (u + pad - first) / stride + 1);
  }
  return Taps{(u + pad - first) / stride, -1, first, stride, n};
}

inline Vec Load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof(Vec));
  return v;
}

inline Vec Relu6(Vec v) {
  const Vec zero = {}, six = zero + 6.0f;
  v = v > zero ? v : zero;
  return v < six ? v : six;
}

// out[ch] = sum over the taps of act(src[row, col, ch]) * kernel[i, j, ch] for one pixel,
// where act is relu6(. + offset) if kActivate, else the identity; src is one image
// [rows, src_w, c], kernel [k, k, c]. If mask_src is given, out is zero wherever
// 0 < mask_src + offset < 6 fails (the ReLU6 derivative at that pixel). If out_offset
// is given, out = relu6(sum + out_offset).
template <bool kActivate>
inline void SumTaps(const float* src, int64_t src_w, const float* kernel, int64_t k, int64_t c,
                    const float* offset, const Taps& rows, const Taps& cols, const float* mask_src,
                    const float* out_offset, float* out) {
  int64_t c0 = 0;
  for (; c0 + kLanes <= c; c0 += kLanes) {
    Vec acc = {};
    Vec off = {};
    if (kActivate || mask_src != nullptr) off = Load(offset + c0);
    for (int64_t a = 0; a < rows.n; ++a) {
      const float* srow = src + (rows.src0 + a * rows.src_step) * src_w * c + c0;
      const float* krow = kernel + (rows.k0 + a * rows.k_step) * k * c + c0;
      for (int64_t b = 0; b < cols.n; ++b) {
        Vec x = Load(srow + (cols.src0 + b * cols.src_step) * c);
        if (kActivate) x = Relu6(x + off);
        acc += x * Load(krow + (cols.k0 + b * cols.k_step) * c);
      }
    }
    if (mask_src != nullptr) {
      const Vec v = Load(mask_src + c0) + off, zero = {}, six = zero + 6.0f;
      acc = (v > zero) & (v < six) ? acc : zero;
    }
    if (out_offset != nullptr) acc = Relu6(acc + Load(out_offset + c0));
    std::memcpy(out + c0, &acc, sizeof(Vec));
  }
  for (; c0 < c; ++c0) {  // channels past the last multiple of 16
    float acc = 0.0f;
    for (int64_t a = 0; a < rows.n; ++a) {
      for (int64_t b = 0; b < cols.n; ++b) {
        float x = src[((rows.src0 + a * rows.src_step) * src_w + cols.src0 + b * cols.src_step) * c + c0];
        if (kActivate) x = std::min(std::max(x + offset[c0], 0.0f), 6.0f);
        acc += x * kernel[((rows.k0 + a * rows.k_step) * k + cols.k0 + b * cols.k_step) * c + c0];
      }
    }
    if (mask_src != nullptr) {
      const float v = mask_src[c0] + offset[c0];
      if (!(v > 0.0f && v < 6.0f)) acc = 0.0f;
    }
    if (out_offset != nullptr) acc = std::min(std::max(acc + out_offset[c0], 0.0f), 6.0f);
    out[c0] = acc;
  }
}

// Runs body(begin, end) over [0, rows) in chunks claimed from an atomic counter by
// the calling thread and by helpers scheduled on XLA's intra-op pool. The caller
// works too and waits only for chunks already running elsewhere, so it cannot stall
// on helpers that never start (the pool's threads may all be busy, e.g. running
// other custom calls). A helper that starts late finds no chunk left and returns
// without touching the caller's data; the shared state outlives the caller.
template <typename Body>
void ParallelRows(ffi::ThreadPool& pool, int64_t rows, const Body& body) {
  struct State {
    std::atomic<int64_t> next{0}, done{0};
    int64_t chunks = 0, chunk = 0, rows = 0;
    const Body* body = nullptr;
  };
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  auto state = std::make_shared<State>();
  state->rows = rows;
  state->chunks = std::min<int64_t>(rows, 4 * threads);
  if (state->chunks <= 0) return;
  state->chunk = (rows + state->chunks - 1) / state->chunks;
  state->chunks = (rows + state->chunk - 1) / state->chunk;
  state->body = &body;
  auto work = [](State& s) {
    for (int64_t t = s.next.fetch_add(1, std::memory_order_relaxed); t < s.chunks;
         t = s.next.fetch_add(1, std::memory_order_relaxed)) {
      (*s.body)(t * s.chunk, std::min(s.rows, (t + 1) * s.chunk));
      s.done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 1; t < std::min(threads, state->chunks); ++t) {
    pool.Schedule([state, work]() { work(*state); });
  }
  work(*state);
  while (state->done.load(std::memory_order_acquire) < state->chunks) std::this_thread::yield();
}

template <bool kActivate>
ffi::Error Forward(ffi::ThreadPool& pool, const ffi::Buffer<ffi::F32>& x, const ffi::Buffer<ffi::F32>& kernel,
                   const float* offset, const float* out_offset, ffi::ResultBuffer<ffi::F32>& y,
                   int64_t stride, int64_t pad_top, int64_t pad_left) {
  Geometry g;
  if (auto e = ReadGeometry(x.dimensions(), kernel.dimensions(), y->dimensions(), true, &g); e.failure()) return e;
  const float* xs = x.typed_data();
  const float* ks = kernel.typed_data();
  float* ys = y->typed_data();
  ParallelRows(pool, g.n * g.ho, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / g.ho, oh = row % g.ho;
      const Taps rows = ForwardTaps(oh, stride, pad_top, g.k, g.h);
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        SumTaps<kActivate>(xs + b * g.h * g.w * g.c, g.w, ks, g.k, g.c, offset, rows,
                           ForwardTaps(ow, stride, pad_left, g.k, g.w), nullptr, out_offset,
                           ys + (row * g.wo + ow) * g.c);
      }
    }
  });
  return ffi::Error::Success();
}

// dx[h, w] = sum over taps (i, j) with h + pad_top - i = stride * oh (0 <= oh < ho), same for w;
// times the ReLU6 mask of z + offset when z is given (z may have fewer images than g:
// an unbatched z under vmap, image b of g reads image b mod nz).
ffi::Error Backward(ffi::ThreadPool& pool, const ffi::Buffer<ffi::F32>& gy, const ffi::Buffer<ffi::F32>& kernel,
                    const float* offset, const float* z, int64_t z_images, ffi::ResultBuffer<ffi::F32>& dx,
                    int64_t stride, int64_t pad_top, int64_t pad_left) {
  Geometry g;
  if (auto e = ReadGeometry(gy.dimensions(), kernel.dimensions(), dx->dimensions(), false, &g); e.failure()) {
    return e;
  }
  const float* gs = gy.typed_data();
  const float* ks = kernel.typed_data();
  float* ds = dx->typed_data();
  ParallelRows(pool, g.n * g.h, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / g.h, h = row % g.h;
      const Taps rows = BackwardTaps(h, stride, pad_top, g.k, g.ho);
      const float* zrow = z == nullptr ? nullptr : z + (((b % z_images) * g.h + h) * g.w) * g.c;
      for (int64_t w = 0; w < g.w; ++w) {
        SumTaps<false>(gs + b * g.ho * g.wo * g.c, g.wo, ks, g.k, g.c, offset, rows,
                       BackwardTaps(w, stride, pad_left, g.k, g.wo), zrow == nullptr ? nullptr : zrow + w * g.c,
                       nullptr, ds + (row * g.w + w) * g.c);
      }
    }
  });
  return ffi::Error::Success();
}

ffi::Error ForwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernel,
                       ffi::ResultBuffer<ffi::F32> y, int64_t stride, int64_t pad_top, int64_t pad_left) {
  return Forward<false>(pool, x, kernel, nullptr, nullptr, y, stride, pad_top, pad_left);
}

ffi::Error BackwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> g, ffi::Buffer<ffi::F32> kernel,
                        ffi::ResultBuffer<ffi::F32> dx, int64_t stride, int64_t pad_top, int64_t pad_left) {
  return Backward(pool, g, kernel, nullptr, nullptr, 1, dx, stride, pad_top, pad_left);
}

ffi::Error ActivatedForwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> z, ffi::Buffer<ffi::F32> offset,
                                ffi::Buffer<ffi::F32> kernel, ffi::Buffer<ffi::F32> out_offset,
                                ffi::ResultBuffer<ffi::F32> y, int64_t stride, int64_t pad_top, int64_t pad_left) {
  if (auto e = CheckOffset(offset.dimensions(), z.dimensions().back()); e.failure()) return e;
  if (auto e = CheckOffset(out_offset.dimensions(), z.dimensions().back()); e.failure()) return e;
  return Forward<true>(pool, z, kernel, offset.typed_data(), out_offset.typed_data(), y, stride, pad_top, pad_left);
}

ffi::Error ActivatedBackwardImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> g, ffi::Buffer<ffi::F32> kernel,
                                 ffi::Buffer<ffi::F32> offset, ffi::Buffer<ffi::F32> z,
                                 ffi::ResultBuffer<ffi::F32> dz, int64_t stride, int64_t pad_top, int64_t pad_left) {
  if (auto e = CheckOffset(offset.dimensions(), z.dimensions().back()); e.failure()) return e;
  auto zd = z.dimensions(), dd = dz->dimensions();
  const int64_t z_images = Images(zd);
  if (zd.size() < 4 || z_images == 0 || Images(dd) % z_images != 0 || zd[zd.size() - 3] != dd[dd.size() - 3] ||
      zd[zd.size() - 2] != dd[dd.size() - 2] || zd.back() != dd.back()) {
    return ffi::Error::InvalidArgument("depthwise: z does not match the gradient's shape");
  }
  return Backward(pool, g, kernel, offset.typed_data(), z.typed_data(), z_images, dz, stride, pad_top, pad_left);
}

}  // namespace

#define DEPTHWISE_ATTRS .Attr<int64_t>("stride").Attr<int64_t>("pad_top").Attr<int64_t>("pad_left")
#define F32_ARG .Arg<ffi::Buffer<ffi::F32>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(DepthwiseForward, ForwardImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() F32_ARG F32_ARG
                                  .Ret<ffi::Buffer<ffi::F32>>() DEPTHWISE_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(DepthwiseBackward, BackwardImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() F32_ARG F32_ARG
                                  .Ret<ffi::Buffer<ffi::F32>>() DEPTHWISE_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ActivatedForward, ActivatedForwardImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() F32_ARG F32_ARG F32_ARG F32_ARG
                                  .Ret<ffi::Buffer<ffi::F32>>() DEPTHWISE_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ActivatedBackward, ActivatedBackwardImpl,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() F32_ARG F32_ARG F32_ARG F32_ARG
                                  .Ret<ffi::Buffer<ffi::F32>>() DEPTHWISE_ATTRS);
