// LiftPool's lifting steps on CPU as single fused loops (see liftpool_lightning/nn/native_lifting.py).
//
// A step works on rows (B1, B2, L, R, C): L the lifted axis, R the axes lifted before (flattened), C channels.
// Every (b1, b2) "slab" (L x R x C values) is independent, so the kernels run slab by slab in parallel: a slab is
// gathered into a small contiguous scratch buffer (any input strides, e.g. an NCHW tensor), lifted there while it is
// in cache, and written out. P and U are tanh(pw * relu(b + sum_k w_k src[l + k - left]) + pb) (or without the tanh:
// the operators' identity activation), per channel; the
// K-tap sum reads the source rows through a table of padded position -> source row (-1: a zero), so every padding
// mode is one table. The backward recomputes P and U from the step's input instead of keeping activations, and
// accumulates the parameter gradients per thread.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/extension.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

using at::vec::Vectorized;

// One P or U: taps (K, C), bias (C), pointwise weight (C), pointwise bias (C); missing biases are zeros. tanh: the
// output activation is tanh (the paper's), else the identity.
template <typename T>
struct Operator {
  std::vector<T> taps, bias, scale, shift;
  int64_t kernel_size = 0;
  bool tanh = true;
};

template <typename T>
Operator<T> unpack(const std::vector<torch::Tensor>& w, int offset, int64_t channels, bool tanh) {
  Operator<T> op;
  op.tanh = tanh;
  auto weight = w[offset].contiguous().view({channels, -1});  // (C, K)
  op.kernel_size = weight.size(1);
  auto taps = weight.t().contiguous();
  op.taps.assign(taps.data_ptr<T>(), taps.data_ptr<T>() + taps.numel());
  auto fill = [&](const torch::Tensor& t, std::vector<T>& out) {
    if (t.numel() == 0) {
      out.assign(channels, T(0));
    } else {
      auto c = t.contiguous();
      out.assign(c.data_ptr<T>(), c.data_ptr<T>() + channels);
    }
  };
  fill(w[offset + 1], op.bias);
  fill(w[offset + 2], op.scale);
  fill(w[offset + 3], op.shift);
  return op;
}

// tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|), and its Taylor series x - x^3/3 + 2x^5/15 - 17x^7/315
// below |x| = 0.1 (where 1 - e would lose digits; the series' error there is < 1e-10 relative). Several times
// faster than Sleef's tanh; a few ulp in float32. float64 keeps Sleef's (1 ulp).
template <typename T>
inline Vectorized<T> vtanh(const Vectorized<T>& x) {
  using V = Vectorized<T>;
  if constexpr (std::is_same_v<T, double>) return x.tanh();
  const auto magnitude = x.abs();
  const auto e = (magnitude * V(T(-2))).exp_u20();
  auto large = (V(T(1)) - e) / (V(T(1)) + e);
  large = V::blendv(large, V(T(0)) - large, x < V(T(0)));
  const auto x2 = x * x;
  auto series = at::vec::fmadd(x2, V(T(-17.0 / 315.0)), V(T(2.0 / 15.0)));
  series = at::vec::fmadd(x2, series, V(T(-1.0 / 3.0)));
  series = at::vec::fmadd(x2 * x, series, x);
  return V::blendv(large, series, magnitude < V(T(0.1)));
}

// f(c, count) over the channels in vector-sized pieces (the last one shorter).
template <typename T, typename F>
inline void over_channels(int64_t channels, const F& f) {
  constexpr int64_t width = Vectorized<T>::size();
  int64_t c = 0;
  for (; c + width <= channels; c += width) f(c, width);
  if (c < channels) f(c, channels - c);
}

template <typename T>
inline Vectorized<T> load(const T* p, int64_t count) {
  return count == Vectorized<T>::size() ? Vectorized<T>::loadu(p) : Vectorized<T>::loadu(p, count);
}

template <typename T>
inline void store(const Vectorized<T>& v, T* p, int64_t count) {
  if (count == Vectorized<T>::size()) {
    v.store(p);
  } else {
    v.store(p, count);
  }
}

struct Shape {
  int64_t n;  // half length (rows of one band)
  int64_t rest;  // R
  int64_t channels;  // C
  int64_t row() const { return rest * channels; }
};

// Pre-activation of the operator at output row l, channels [c, c + count), position r: b + sum_k w_k src[...]
template <typename T>
inline Vectorized<T> taps_sum(const Operator<T>& op, const T* src, const int64_t* sources, const Shape& s, int64_t l,
                              int64_t r, int64_t c, int64_t count) {
  auto acc = load(op.bias.data() + c, count);
  for (int64_t k = 0; k < op.kernel_size; ++k) {
    const int64_t j = sources[l + k];
    if (j < 0) continue;
    acc = at::vec::fmadd(load(op.taps.data() + k * s.channels + c, count), load(src + j * s.row() + r * s.channels + c, count),
                         acc);
  }
  return acc;
}

// out = base + sign * op(src) over a slab (all rows contiguous (n, R, C)).
template <typename T>
void operator_forward(const Operator<T>& op, const T* src, const T* base, T* out, T sign, const int64_t* sources,
                      const Shape& s) {
  using V = Vectorized<T>;
  for (int64_t l = 0; l < s.n; ++l) {
    for (int64_t r = 0; r < s.rest; ++r) {
      const int64_t offset = l * s.row() + r * s.channels;
      over_channels<T>(s.channels, [&](int64_t c, int64_t count) {
        auto hidden = at::vec::maximum(taps_sum(op, src, sources, s, l, r, c, count), V(T(0)));
        auto value = at::vec::fmadd(hidden, load(op.scale.data() + c, count), load(op.shift.data() + c, count));
        if (op.tanh) value = vtanh(value);
        store(at::vec::fmadd(value, V(sign), load(base + offset + c, count)), out + offset + c, count);
      });
    }
  }
}

// Per-thread parameter gradients of one operator: taps (K, C), bias, scale, shift (C each).
template <typename T>
struct OperatorGrad {
  T* taps;
  T* bias;
  T* scale;
  T* shift;
};

// Backward of sign * op(src) for grad_out (gradient of that output): adds the source gradient into grad_src (n, R, C;
// skipped when null) and the parameter gradients into g. Recomputes the activations; scratch holds (n, R, C) values.
// With input_grad_out (and input_grad_src, scratch2), a second upstream gradient is taken through the same
// activations into input_grad_src only (no parameter gradients): the constraint losses' gradients reach the
// parameters but not the input this way. Two passes over the slab in memory order, as the forward (channels
// innermost), the parameter gradients adding up in g: a channel-block-outer order would stride through the whole
// slab once per block and tap, out of cache for the large maps at the top of a network.
template <typename T>
void operator_backward(const Operator<T>& op, const T* src, const T* grad_out, T sign, T* grad_src, OperatorGrad<T> g,
                       const int64_t* sources, const Shape& s, T* scratch, const T* input_grad_out = nullptr,
                       T* input_grad_src = nullptr, T* scratch2 = nullptr) {
  using V = Vectorized<T>;
  const bool second = input_grad_out != nullptr;
  for (int64_t l = 0; l < s.n; ++l) {  // gradient of the pre-activation into scratch
    for (int64_t r = 0; r < s.rest; ++r) {
      const int64_t offset = l * s.row() + r * s.channels;
      over_channels<T>(s.channels, [&](int64_t c, int64_t count) {
        const auto scale = load(op.scale.data() + c, count);
        const auto pre = taps_sum(op, src, sources, s, l, r, c, count);
        const auto hidden = at::vec::maximum(pre, V(T(0)));
        const auto linear = at::vec::fmadd(hidden, scale, load(op.shift.data() + c, count));
        const auto value = op.tanh ? vtanh(linear) : linear;
        const auto slope = op.tanh ? V(sign) * (V(T(1)) - value * value) : V(sign);
        const auto grad_value = load(grad_out + offset + c, count) * slope;
        const auto active = pre > V(T(0));
        const auto grad_pre = V::blendv(V(T(0)), grad_value * scale, active);
        store(load(g.shift + c, count) + grad_value, g.shift + c, count);
        store(at::vec::fmadd(grad_value, hidden, load(g.scale + c, count)), g.scale + c, count);
        store(load(g.bias + c, count) + grad_pre, g.bias + c, count);
        store(grad_pre, scratch + offset + c, count);
        if (second) store(V::blendv(V(T(0)), load(input_grad_out + offset + c, count) * slope * scale, active),
                          scratch2 + offset + c, count);
      });
    }
  }
  for (int64_t l = 0; l < s.n; ++l) {  // tap k of row l: its weight's gradient, its share of the source's
    for (int64_t k = 0; k < op.kernel_size; ++k) {
      const int64_t j = sources[l + k];
      if (j < 0) continue;
      for (int64_t r = 0; r < s.rest; ++r) {
        const int64_t here = l * s.row() + r * s.channels, at = j * s.row() + r * s.channels;
        over_channels<T>(s.channels, [&](int64_t c, int64_t count) {
          const auto grad_pre = load(scratch + here + c, count);
          const auto weight = load(op.taps.data() + k * s.channels + c, count);
          T* tap = g.taps + k * s.channels + c;
          store(at::vec::fmadd(grad_pre, load(src + at + c, count), load(tap, count)), tap, count);
          if (grad_src) store(at::vec::fmadd(grad_pre, weight, load(grad_src + at + c, count)), grad_src + at + c, count);
          if (second) store(at::vec::fmadd(load(scratch2 + here + c, count), weight, load(input_grad_src + at + c, count)),
                            input_grad_src + at + c, count);
        });
      }
    }
  }
}

// Rows (B1, B2, L, R, C) with any strides: copy the even (parity 0) or odd rows of slab (b1, b2) into a contiguous
// (n, R, C) buffer, or back (to_rows).
template <typename T>
void move_half(const torch::Tensor& rows, T* rows_data, int64_t b1, int64_t b2, int parity, T* half, const Shape& s,
               bool to_rows) {
  const int64_t sl = rows.stride(2), sr = rows.stride(3), sc = rows.stride(4);
  T* base = rows_data + b1 * rows.stride(0) + b2 * rows.stride(1) + parity * sl;
  if (sc == 1) {
    for (int64_t l = 0; l < s.n; ++l)
      for (int64_t r = 0; r < s.rest; ++r) {
        T* strided = base + 2 * l * sl + r * sr;
        T* dense = half + l * s.row() + r * s.channels;
        if (to_rows) {
          std::memcpy(strided, dense, s.channels * sizeof(T));
        } else {
          std::memcpy(dense, strided, s.channels * sizeof(T));
        }
      }
    return;
  }
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t r = 0; r < s.rest; ++r)
      for (int64_t l = 0; l < s.n; ++l) {
        T* strided = base + 2 * l * sl + r * sr + c * sc;
        T* dense = half + l * s.row() + r * s.channels + c;
        if (to_rows) {
          *strided = *dense;
        } else {
          *dense = *strided;
        }
      }
}

// Per-thread parameter-gradient accumulators for P and U, summed at the end.
template <typename T>
struct GradAccumulator {
  int64_t channels, kernel_size, per_operator;
  std::vector<T> values;
  GradAccumulator(int64_t c, int64_t k)
      : channels(c), kernel_size(k), per_operator((k + 3) * c), values(at::get_num_threads() * 2 * (k + 3) * c, T(0)) {}
  OperatorGrad<T> of(int op) {
    T* base = values.data() + (at::get_thread_num() * 2 + op) * per_operator;
    const int64_t taps = kernel_size * channels;
    return {base, base + taps, base + taps + channels, base + taps + 2 * channels};
  }
  // [taps (C, 1, K), bias, scale (C, 1), shift] of P then U, empty where the forward had no such bias.
  std::vector<torch::Tensor> result(const std::vector<torch::Tensor>& weights) const {
    auto options = weights[0].options();
    auto all = torch::from_blob(const_cast<T*>(values.data()), {(int64_t)values.size() / (2 * per_operator), 2, per_operator},
                                options).sum(0);
    std::vector<torch::Tensor> out;
    for (int op = 0; op < 2; ++op) {
      auto g = all[op];
      const int64_t taps = kernel_size * channels;
      out.push_back(g.narrow(0, 0, taps).view({kernel_size, channels}).t().clone(at::MemoryFormat::Contiguous).view_as(weights[4 * op]));
      out.push_back(weights[4 * op + 1].numel() ? g.narrow(0, taps, channels).clone() : torch::empty({0}, options));
      out.push_back(g.narrow(0, taps + channels, channels).clone().view_as(weights[4 * op + 2]));
      out.push_back(weights[4 * op + 3].numel() ? g.narrow(0, taps + 2 * channels, channels).clone()
                                                : torch::empty({0}, options));
    }
    return out;
  }
};

Shape shape_of(const torch::Tensor& rows) { return {rows.size(2) / 2, rows.size(3), rows.size(4)}; }

void check_rows(const torch::Tensor& rows, const char* name) {
  TORCH_CHECK(rows.dim() == 5, name, " must be rows (B1, B2, L, R, C), got ", rows.dim(), " dims");
  TORCH_CHECK(rows.device().is_cpu(), name, " must be on the CPU");
}

// ---------------------------------------------------------------------------------------------- forward step
// x (B1, B2, L, R, C) -> bands (2, B1, B2, L/2, R, C) (s, d) and the sums of (s - x_o)^2 and d^2.
std::vector<torch::Tensor> lift_forward(const torch::Tensor& x, const std::vector<int64_t>& sources,
                                        const std::vector<torch::Tensor>& weights, bool with_losses, bool tanh) {
  check_rows(x, "x");
  const Shape s = shape_of(x);
  const int64_t B1 = x.size(0), B2 = x.size(1);
  auto bands = torch::empty({2, B1, B2, s.n, s.rest, s.channels}, x.options());
  auto sums = torch::zeros({at::get_num_threads(), 2}, x.options().dtype(torch::kFloat64));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lift_forward", [&] {
    const auto predict = unpack<scalar_t>(weights, 0, s.channels, tanh), update = unpack<scalar_t>(weights, 4, s.channels, tanh);
    scalar_t* x_data = x.data_ptr<scalar_t>();
    scalar_t* out = bands.data_ptr<scalar_t>();
    double* sum_data = sums.data_ptr<double>();
    const int64_t slab = s.n * s.row(), band = B1 * B2 * slab;
    at::parallel_for(0, B1 * B2, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> even(slab), odd(slab);
      double c_u = 0, c_p = 0;
      for (int64_t b = begin; b < end; ++b) {
        move_half(x, x_data, b / B2, b % B2, 0, even.data(), s, false);
        move_half(x, x_data, b / B2, b % B2, 1, odd.data(), s, false);
        scalar_t* low = out + b * slab;
        scalar_t* high = out + band + b * slab;
        operator_forward(predict, even.data(), odd.data(), high, scalar_t(-1), sources.data(), s);  // d = x_o - P(x_e)
        operator_forward(update, high, even.data(), low, scalar_t(1), sources.data(), s);  // s = x_e + U(d)
        if (with_losses) {  // per-slab sums in the vector type, added up in double
          using V = Vectorized<scalar_t>;
          V u_sum(scalar_t(0)), p_sum(scalar_t(0));
          for (int64_t i = 0; i < slab; i += V::size()) {
            const int64_t count = std::min<int64_t>(V::size(), slab - i);
            const auto u = load(low + i, count) - load(odd.data() + i, count);
            const auto p = load(high + i, count);
            u_sum = at::vec::fmadd(u, u, u_sum);
            p_sum = at::vec::fmadd(p, p, p_sum);
          }
          c_u += at::vec::vec_reduce_all<scalar_t>([](V a, V b) { return a + b; }, u_sum);
          c_p += at::vec::vec_reduce_all<scalar_t>([](V a, V b) { return a + b; }, p_sum);
        }
      }
      sum_data[2 * at::get_thread_num()] += c_u;
      sum_data[2 * at::get_thread_num() + 1] += c_p;
    });
  });
  return {bands, sums.sum(0)};
}

// grad_bands (2, B1, B2, n, R, C) and the losses' gradients (already divided by the element count) -> grad_x
// (written into grad_x, any strides) and the parameter gradients. Without losses_reach_input the losses' gradients
// train P and U but grad_x is the chain of grad_bands alone (the losses see a detached input).
std::vector<torch::Tensor> lift_backward(const torch::Tensor& grad_bands, double grad_c_u, double grad_c_p,
                                         const torch::Tensor& x, const torch::Tensor& bands, torch::Tensor grad_x,
                                         const std::vector<int64_t>& sources,
                                         const std::vector<torch::Tensor>& weights, bool losses_reach_input,
                                         bool tanh) {
  check_rows(x, "x");
  check_rows(grad_x, "grad_x");
  const Shape s = shape_of(x);
  const int64_t B1 = x.size(0), B2 = x.size(1);
  auto grad = grad_bands.contiguous();
  auto saved = bands.contiguous();
  std::vector<torch::Tensor> result;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lift_backward", [&] {
    const auto predict = unpack<scalar_t>(weights, 0, s.channels, tanh), update = unpack<scalar_t>(weights, 4, s.channels, tanh);
    GradAccumulator<scalar_t> grads(s.channels, predict.kernel_size);
    scalar_t* x_data = x.data_ptr<scalar_t>();
    scalar_t* grad_x_data = grad_x.data_ptr<scalar_t>();
    const scalar_t* grad_data = grad.data_ptr<scalar_t>();
    const scalar_t* band_data = saved.data_ptr<scalar_t>();
    const int64_t slab = s.n * s.row(), band = B1 * B2 * slab;
    const scalar_t cu = scalar_t(2 * grad_c_u), cp = scalar_t(2 * grad_c_p);
    const bool split = !losses_reach_input && (grad_c_u != 0 || grad_c_p != 0);  // two upstream gradients
    at::parallel_for(0, B1 * B2, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> even(slab), odd(slab), grad_s(slab), grad_d(slab), scratch(slab);
      std::vector<scalar_t> band_s(split ? slab : 0), band_d(split ? slab : 0), scratch2(split ? slab : 0);
      for (int64_t b = begin; b < end; ++b) {
        move_half(x, x_data, b / B2, b % B2, 0, even.data(), s, false);
        move_half(x, x_data, b / B2, b % B2, 1, odd.data(), s, false);
        const scalar_t* low = band_data + b * slab;
        const scalar_t* high = band_data + band + b * slab;
        const scalar_t* g_low = grad_data + b * slab;
        const scalar_t* g_high = grad_data + band + b * slab;
        for (int64_t i = 0; i < slab; ++i) {  // c_u = mean((s - x_o)^2), c_p = mean(d^2)
          grad_s[i] = g_low[i] + cu * (low[i] - odd[i]);
          grad_d[i] = g_high[i] + cp * high[i];
        }
        if (split) {  // parameters: grad_s/grad_d (bands + losses); x: band_s/band_d (bands alone)
          std::memcpy(band_s.data(), g_low, slab * sizeof(scalar_t));
          std::memcpy(band_d.data(), g_high, slab * sizeof(scalar_t));
          operator_backward(update, high, grad_s.data(), scalar_t(1), grad_d.data(), grads.of(1), sources.data(), s,
                            scratch.data(), band_s.data(), band_d.data(), scratch2.data());
          operator_backward(predict, even.data(), grad_d.data(), scalar_t(-1), static_cast<scalar_t*>(nullptr),
                            grads.of(0), sources.data(), s, scratch.data(), band_d.data(), band_s.data(),
                            scratch2.data());
          move_half(grad_x, grad_x_data, b / B2, b % B2, 0, band_s.data(), s, true);
          move_half(grad_x, grad_x_data, b / B2, b % B2, 1, band_d.data(), s, true);
          continue;
        }
        operator_backward(update, high, grad_s.data(), scalar_t(1), grad_d.data(), grads.of(1), sources.data(), s,
                          scratch.data());
        operator_backward(predict, even.data(), grad_d.data(), scalar_t(-1), grad_s.data(), grads.of(0),
                          sources.data(), s, scratch.data());
        for (int64_t i = 0; i < slab; ++i) odd[i] = grad_d[i] - cu * (low[i] - odd[i]);  // grad of x_o
        move_half(grad_x, grad_x_data, b / B2, b % B2, 0, grad_s.data(), s, true);
        move_half(grad_x, grad_x_data, b / B2, b % B2, 1, odd.data(), s, true);
      }
    });
    result = grads.result(weights);
  });
  return result;
}

// ---------------------------------------------------------------------------------------------- inverse step
// bands (2, B1, B2, n, R, C) -> x (written into out (B1, B2, 2n, R, C), any strides): x_e = s - U(d), x_o = d + P(x_e)
void unlift_forward(const torch::Tensor& bands, torch::Tensor out, const std::vector<int64_t>& sources,
                    const std::vector<torch::Tensor>& weights, bool tanh) {
  check_rows(out, "out");
  const Shape s = shape_of(out);
  const int64_t B1 = out.size(0), B2 = out.size(1);
  auto input = bands.contiguous();
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "unlift_forward", [&] {
    const auto predict = unpack<scalar_t>(weights, 0, s.channels, tanh), update = unpack<scalar_t>(weights, 4, s.channels, tanh);
    scalar_t* out_data = out.data_ptr<scalar_t>();
    const scalar_t* band_data = input.data_ptr<scalar_t>();
    const int64_t slab = s.n * s.row(), band = B1 * B2 * slab;
    at::parallel_for(0, B1 * B2, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> even(slab), odd(slab);
      for (int64_t b = begin; b < end; ++b) {
        const scalar_t* low = band_data + b * slab;
        const scalar_t* high = band_data + band + b * slab;
        operator_forward(update, high, low, even.data(), scalar_t(-1), sources.data(), s);
        operator_forward(predict, even.data(), high, odd.data(), scalar_t(1), sources.data(), s);
        move_half(out, out_data, b / B2, b % B2, 0, even.data(), s, true);
        move_half(out, out_data, b / B2, b % B2, 1, odd.data(), s, true);
      }
    });
  });
}

// grad_x (B1, B2, 2n, R, C), any strides, and the step's input bands -> grad_bands and the parameter gradients.
std::vector<torch::Tensor> unlift_backward(const torch::Tensor& grad_x, const torch::Tensor& bands,
                                           const std::vector<int64_t>& sources,
                                           const std::vector<torch::Tensor>& weights, bool tanh) {
  check_rows(grad_x, "grad_x");
  const Shape s = shape_of(grad_x);
  const int64_t B1 = grad_x.size(0), B2 = grad_x.size(1);
  auto input = bands.contiguous();
  auto grad_bands = torch::empty_like(input);
  std::vector<torch::Tensor> result{grad_bands};
  AT_DISPATCH_FLOATING_TYPES(grad_x.scalar_type(), "unlift_backward", [&] {
    const auto predict = unpack<scalar_t>(weights, 0, s.channels, tanh), update = unpack<scalar_t>(weights, 4, s.channels, tanh);
    GradAccumulator<scalar_t> grads(s.channels, predict.kernel_size);
    scalar_t* grad_x_data = grad_x.data_ptr<scalar_t>();
    const scalar_t* band_data = input.data_ptr<scalar_t>();
    scalar_t* grad_data = grad_bands.data_ptr<scalar_t>();
    const int64_t slab = s.n * s.row(), band = B1 * B2 * slab;
    at::parallel_for(0, B1 * B2, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> even(slab), scratch(slab);
      for (int64_t b = begin; b < end; ++b) {
        const scalar_t* low = band_data + b * slab;
        const scalar_t* high = band_data + band + b * slab;
        scalar_t* grad_low = grad_data + b * slab;
        scalar_t* grad_high = grad_data + band + b * slab;
        move_half(grad_x, grad_x_data, b / B2, b % B2, 0, grad_low, s, false);
        move_half(grad_x, grad_x_data, b / B2, b % B2, 1, grad_high, s, false);
        operator_forward(update, high, low, even.data(), scalar_t(-1), sources.data(), s);  // x_e again
        operator_backward(predict, even.data(), grad_high, scalar_t(1), grad_low, grads.of(0), sources.data(), s,
                          scratch.data());
        operator_backward(update, high, grad_low, scalar_t(-1), grad_high, grads.of(1), sources.data(), s,
                          scratch.data());
      }
    });
    auto parameters = grads.result(weights);
    result.insert(result.end(), parameters.begin(), parameters.end());
  });
  return result;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lift_forward", &lift_forward);
  m.def("lift_backward", &lift_backward);
  m.def("unlift_forward", &unlift_forward);
  m.def("unlift_backward", &unlift_backward);
}
