"""The lifting steps of the default learned P/U as Triton kernels, for CUDA (``step_implementations`` picks them
there); on CPU tensors under ``TRITON_INTERPRET=1`` inside ``triton_steps()``, for the tests.

One program lifts one row (one ``(b1, b2, r)`` of rows ``(B1, B2, L, R, C)``, any strides) for a block of channels:
it gathers the even samples through the padding table (``native_lifting.tap_sources``), evaluates
``P = act(pw * relu(conv_K(x_e) + b) + pb)`` in float32, writes ``d = x_o - P``, re-reads ``d`` through the table
for ``U`` and writes ``s = x_e + U(d)``, and adds its share of the constraint losses' sums. The bands are written
once, in the input's dtype (bfloat16 stays bfloat16), everything is computed in float32 and the losses are float32.
The backward recomputes P and U from the step's input and bands (as the C++ kernel does) and accumulates the
parameters' gradients per program, summed afterwards (deterministic). Both ``constraint_gradients`` settings:
with ``"operators"`` the losses' gradients reach P and U only (a second, band-only stream for the input).
"""

# ruff: noqa: N803  (Triton kernels: compile-time constants and sizes in capitals, as Triton writes them)
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch
from torch import Tensor

from liftpool_lightning.nn.fused_lifting import (
    OperatorWeights,
    Padding,
    _flat,
    _no_double_backward,
    _weights,
    as_rows,
)
from liftpool_lightning.nn.kernel_autograd import register_unlift_autograd
from liftpool_lightning.nn.loss_precision import loss_dtype

try:  # Triton comes with CUDA builds of torch; without it the other step implementations serve
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where Triton is missing
    triton = None


def available() -> bool:
    """Whether Triton is importable (the kernels still need a CUDA tensor, or ``TRITON_INTERPRET=1``)."""
    return triton is not None


@functools.lru_cache(maxsize=256)
def _tap_table(n: int, padding: Padding, device: torch.device) -> Tensor:
    """Source sample of each padded position (-1: a zero), as an int32 tensor on ``device``; cached per length."""
    from liftpool_lightning.nn.native_lifting import tap_sources

    return torch.tensor(tap_sources(n, padding), dtype=torch.int32, device=device)


def _five_d(rows: Tensor) -> Tensor:
    """Rows ``(*batch, L, R, C)`` as ``(B1, B2, L, R, C)``: a view where one exists, else of a contiguous copy."""
    from liftpool_lightning.nn.native_lifting import _input_rows

    return _input_rows(rows)


if triton is not None:

    @triton.jit
    def _activate(v, TANH: tl.constexpr):
        if TANH:  # tanh from exp (libdevice's tanh is missing under the interpreter)
            e = tl.exp(-2.0 * tl.abs(v))
            t = (1.0 - e) / (1.0 + e)
            return tl.where(v < 0, -t, t)
        return v

    @triton.jit
    def _operator(
        signal_ptr, stride_l, l_scale, channel_offsets, offs_n, offs_c, mask_n, mask_c, taps_ptr,
        w_ptr, b_ptr, pw_ptr, pb_ptr,
        K: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr, TANH: tl.constexpr,
    ):  # fmt: skip
        """(hidden, value) of P or U for a [BLOCK_N, BLOCK_C] tile: ``hidden = relu(sum_j w_j * signal[tap(n + j)]
        + b)``, ``value = act(pw * hidden + pb)``; the signal's sample i of channel c at ``signal_ptr + l_scale * i *
        stride_l + channel_offsets[c]``."""
        mask = mask_n[:, None] & mask_c[None, :]
        acc = tl.zeros((offs_n.shape[0], offs_c.shape[0]), dtype=tl.float32)
        for j in tl.static_range(K):
            source = tl.load(taps_ptr + offs_n + j, mask=mask_n, other=-1)
            valid = mask & (source >= 0)[:, None]
            index = (l_scale * source).to(tl.int64)
            value = tl.load(signal_ptr + index[:, None] * stride_l + channel_offsets[None, :], mask=valid, other=0.0)
            weight = tl.load(w_ptr + offs_c * K + j, mask=mask_c, other=0.0)
            acc += value.to(tl.float32) * weight[None, :]
        if HAS_BIAS:
            acc += tl.load(b_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        hidden = tl.maximum(acc, 0.0)
        value = hidden * tl.load(pw_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        if HAS_PW_BIAS:
            value += tl.load(pb_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        return hidden, _activate(value, TANH)

    @triton.jit
    def _tile(B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
        """This program's share: its row (``row`` = (b1 * B2 + b2) * R + r, indices as int64), the offsets and masks
        of its [BLOCK_N, BLOCK_C] tile, and where the tile lies in a band (``band_base + band_rows``)."""
        row = tl.program_id(0)
        r = (row % R).to(tl.int64)
        b2 = ((row // R) % B2).to(tl.int64)
        b1 = (row // (R * B2)).to(tl.int64)
        offs_n = tl.arange(0, BLOCK_N)
        offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        mask_n = offs_n < n
        mask_c = offs_c < C
        mask = mask_n[:, None] & mask_c[None, :]
        band_base = b1 * sb1 + b2 * sb2 + r * sbr
        band_rows = offs_n[:, None].to(tl.int64) * sbl + offs_c[None, :]
        return row, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows

    @triton.jit
    def _lift_forward_kernel(
        x_ptr, bands_ptr, taps_ptr, sums_ptr,
        wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, wu_ptr, bu_ptr, pwu_ptr, pbu_ptr,
        B2, R, C, n,
        sx1, sx2, sxl, sxr, sxc,
        band_stride, sb1, sb2, sbl, sbr,
        K: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr, TANH: tl.constexpr,
        WITH_LOSSES: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        row, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows = _tile(
            B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N, BLOCK_C
        )
        # channel stride folded into the pointers: x's channels at sxc, the bands contiguous in C
        x_base = b1 * sx1 + b2 * sx2 + r * sxr
        x_c = offs_c[None, :] * sxc
        even = tl.load(x_ptr + x_base + (2 * offs_n)[:, None].to(tl.int64) * sxl + x_c, mask=mask, other=0.0)
        odd = tl.load(x_ptr + x_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sxl + x_c, mask=mask, other=0.0)
        _, predicted = _operator(x_ptr + x_base, sxl, 2, offs_c * sxc, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                                 wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        detail = odd.to(tl.float32) - predicted
        tl.store(bands_ptr + band_stride + band_base + band_rows, detail.to(bands_ptr.dtype.element_ty), mask=mask)
        tl.debug_barrier()  # U reads d at other positions, written by other threads of this program
        _, updated = _operator(bands_ptr + band_stride + band_base, sbl, 1, offs_c, offs_n, offs_c, mask_n, mask_c,
                               taps_ptr, wu_ptr, bu_ptr, pwu_ptr, pbu_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        approximation = even.to(tl.float32) + updated
        tl.store(bands_ptr + band_base + band_rows, approximation.to(bands_ptr.dtype.element_ty), mask=mask)
        if WITH_LOSSES:
            program = row * tl.num_programs(1) + tl.program_id(1)
            residual = tl.where(mask, approximation - odd.to(tl.float32), 0.0)
            tl.store(sums_ptr + 2 * program, tl.sum(tl.sum(residual * residual, axis=1), axis=0))
            detail = tl.where(mask, detail, 0.0)
            tl.store(sums_ptr + 2 * program + 1, tl.sum(tl.sum(detail * detail, axis=1), axis=0))

    @triton.jit
    def _derivative(value, TANH: tl.constexpr):
        if TANH:
            return 1.0 - value * value
        return tl.full(value.shape, 1.0, tl.float32)

    @triton.jit
    def _transpose(
        grad_ptr, stride_l, offs_n, offs_c, mask_n, mask_c, n, taps_ptr, w_ptr,
        K: tl.constexpr, LEFT: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        """Gradient of a P/U input signal from the gradient ``g`` of its hidden layer (rows at ``grad_ptr``):
        ``sum over padded p with tap(p) = m of sum_j g[p - j] * w_j``; interior ``p = m + LEFT``, then the K - 1
        border positions folded back onto their sources."""
        mask = mask_n[:, None] & mask_c[None, :]
        out = tl.zeros((BLOCK_N, BLOCK_C), dtype=tl.float32)
        for j in tl.static_range(K):
            position = offs_n + LEFT - j
            valid = mask & ((position >= 0) & (position < n))[:, None]
            g = tl.load(grad_ptr + position[:, None].to(tl.int64) * stride_l + offs_c[None, :], mask=valid, other=0.0)
            out += g * tl.load(w_ptr + offs_c * K + j, mask=mask_c, other=0.0)[None, :]
        for i in tl.static_range(K - 1):
            if i < LEFT:  # noqa: SIM108 (a compile-time branch)
                padded = i
            else:
                padded = n + i
            source = tl.load(taps_ptr + padded)
            border = tl.zeros((BLOCK_C,), dtype=tl.float32)
            for j in tl.static_range(K):
                position = padded - j
                ok = mask_c & (position >= 0) & (position < n)
                g = tl.load(grad_ptr + position.to(tl.int64) * stride_l + offs_c, mask=ok, other=0.0)
                border += g * tl.load(w_ptr + offs_c * K + j, mask=mask_c, other=0.0)
            out += tl.where((offs_n == source)[:, None] & mask, border[None, :], 0.0)
        return out

    @triton.jit
    def _parameter_sums(
        partial_ptr, row, offset, C, offs_n, offs_c, mask_n, mask_c, grad_value, hidden, grad_hidden,
        signal_ptr, stride_l, l_scale, channel_offsets, taps_ptr, K: tl.constexpr,
    ):  # fmt: skip
        """This program's share of one operator's parameter gradients: conv taps, conv bias, pointwise weight and
        bias, at ``partial[row, offset + q, c]``."""
        mask = mask_n[:, None] & mask_c[None, :]
        base = partial_ptr + (row.to(tl.int64) * (2 * (K + 3)) + offset) * C
        for j in tl.static_range(K):
            source = tl.load(taps_ptr + offs_n + j, mask=mask_n, other=-1)
            valid = mask & (source >= 0)[:, None]
            index = (l_scale * source).to(tl.int64)
            value = tl.load(signal_ptr + index[:, None] * stride_l + channel_offsets[None, :], mask=valid, other=0.0)
            tl.store(base + j * C + offs_c, tl.sum(grad_hidden * value.to(tl.float32), axis=0), mask=mask_c)
        tl.store(base + K * C + offs_c, tl.sum(grad_hidden, axis=0), mask=mask_c)
        tl.store(base + (K + 1) * C + offs_c, tl.sum(grad_value * hidden, axis=0), mask=mask_c)
        tl.store(base + (K + 2) * C + offs_c, tl.sum(grad_value, axis=0), mask=mask_c)

    @triton.jit
    def _lift_backward_kernel(
        x_ptr, bands_ptr, grad_ptr, grad_x_ptr, scratch_ptr, partial_ptr, taps_ptr, loss_scales_ptr,
        wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, wu_ptr, bu_ptr, pwu_ptr, pbu_ptr,
        B2, R, C, n,
        sx1, sx2, sxl, sxr, sxc,
        band_stride, sb1, sb2, sbl, sbr,
        K: tl.constexpr, LEFT: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr,
        TANH: tl.constexpr, WITH_LOSSES: tl.constexpr, SPLIT: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        row, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows = _tile(
            B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N, BLOCK_C
        )
        x_base = b1 * sx1 + b2 * sx2 + r * sxr
        x_c = offs_c * sxc
        x_odd = x_ptr + x_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sxl + x_c[None, :]
        detail_ptr = bands_ptr + band_stride + band_base
        hidden_p, predicted = _operator(x_ptr + x_base, sxl, 2, x_c, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                                        wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        hidden_u, updated = _operator(detail_ptr, sbl, 1, offs_c, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                                      wu_ptr, bu_ptr, pwu_ptr, pbu_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        grad_s = tl.load(grad_ptr + band_base + band_rows, mask=mask, other=0.0).to(tl.float32)
        grad_d = tl.load(grad_ptr + band_stride + band_base + band_rows, mask=mask, other=0.0).to(tl.float32)
        total_s = grad_s
        total_d = grad_d
        residual = tl.zeros((BLOCK_N, BLOCK_C), dtype=tl.float32)
        scale_u = 0.0
        if WITH_LOSSES:  # c_u = mean((s - x_o)^2), c_p = mean(d^2): their upstream gradients times 2/numel
            scale_u = tl.load(loss_scales_ptr)
            scale_p = tl.load(loss_scales_ptr + 1)
            s = tl.load(bands_ptr + band_base + band_rows, mask=mask, other=0.0).to(tl.float32)
            d = tl.load(detail_ptr + band_rows, mask=mask, other=0.0).to(tl.float32)
            residual = s - tl.load(x_odd, mask=mask, other=0.0).to(tl.float32)
            total_s += scale_u * residual
            total_d += scale_p * d
        pw_u = tl.load(pwu_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        pw_p = tl.load(pwp_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        slope_u = _derivative(updated, TANH)
        live_u = hidden_u > 0
        # U, for its parameters (s = x_e + U(d)): the total upstream gradient
        value_u = tl.where(mask, total_s * slope_u, 0.0)
        hidden_grad_u = tl.where(live_u, value_u * pw_u, 0.0)
        _parameter_sums(partial_ptr, row, K + 3, C, offs_n, offs_c, mask_n, mask_c, value_u, hidden_u,
                        hidden_grad_u, detail_ptr, sbl, 1, offs_c, taps_ptr, K)  # fmt: skip
        tl.store(scratch_ptr + band_base + band_rows, hidden_grad_u, mask=mask)
        if SPLIT:  # the bands' gradients alone, for the input
            band_hidden_u = tl.where(live_u & mask, grad_s * slope_u * pw_u, 0.0)
            tl.store(scratch_ptr + band_stride + band_base + band_rows, band_hidden_u, mask=mask)
        tl.debug_barrier()
        total_d += _transpose(scratch_ptr + band_base, sbl, offs_n, offs_c, mask_n, mask_c, n, taps_ptr, wu_ptr,
                              K, LEFT, BLOCK_N, BLOCK_C)  # fmt: skip
        if SPLIT:
            band_d = grad_d + _transpose(scratch_ptr + band_stride + band_base, sbl, offs_n, offs_c, mask_n, mask_c,
                                         n, taps_ptr, wu_ptr, K, LEFT, BLOCK_N, BLOCK_C)  # fmt: skip
        # P (d = x_o - P(x_e)): minus the gradient of d
        slope_p = _derivative(predicted, TANH)
        live_p = hidden_p > 0
        value_p = tl.where(mask, -total_d * slope_p, 0.0)
        hidden_grad_p = tl.where(live_p, value_p * pw_p, 0.0)
        _parameter_sums(partial_ptr, row, 0, C, offs_n, offs_c, mask_n, mask_c, value_p, hidden_p, hidden_grad_p,
                        x_ptr + x_base, sxl, 2, x_c, taps_ptr, K)  # fmt: skip
        if SPLIT:
            band_hidden_p = tl.where(live_p & mask, -band_d * slope_p * pw_p, 0.0)
            tl.store(scratch_ptr + 2 * band_stride + band_base + band_rows, band_hidden_p, mask=mask)
            chain = scratch_ptr + 2 * band_stride + band_base
        else:
            tl.store(scratch_ptr + 2 * band_stride + band_base + band_rows, hidden_grad_p, mask=mask)
            chain = scratch_ptr + 2 * band_stride + band_base
        tl.debug_barrier()
        grad_even = _transpose(chain, sbl, offs_n, offs_c, mask_n, mask_c, n, taps_ptr, wp_ptr,
                               K, LEFT, BLOCK_N, BLOCK_C)  # fmt: skip
        if SPLIT:
            grad_even += grad_s
            grad_odd = band_d
        else:
            grad_even += total_s
            grad_odd = total_d - scale_u * residual
        out_type = grad_x_ptr.dtype.element_ty
        grad_base = grad_x_ptr + x_base + x_c[None, :]
        tl.store(grad_base + (2 * offs_n)[:, None].to(tl.int64) * sxl, grad_even.to(out_type), mask=mask)
        tl.store(grad_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sxl, grad_odd.to(out_type), mask=mask)

    @triton.jit
    def _unlift_forward_kernel(
        bands_ptr, out_ptr, taps_ptr,
        wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, wu_ptr, bu_ptr, pwu_ptr, pbu_ptr,
        B2, R, C, n,
        so1, so2, sol, sor, soc,
        band_stride, sb1, sb2, sbl, sbr,
        K: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr, TANH: tl.constexpr,
        BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        """The inverse step: ``x_e = s - U(d)`` written, re-read through the table for ``x_o = d + P(x_e)``."""
        _, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows = _tile(
            B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N, BLOCK_C
        )
        detail_ptr = bands_ptr + band_stride + band_base
        out_base = b1 * so1 + b2 * so2 + r * sor
        out_c = offs_c * soc
        s = tl.load(bands_ptr + band_base + band_rows, mask=mask, other=0.0).to(tl.float32)
        d = tl.load(detail_ptr + band_rows, mask=mask, other=0.0).to(tl.float32)
        _, updated = _operator(detail_ptr, sbl, 1, offs_c, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                               wu_ptr, bu_ptr, pwu_ptr, pbu_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        out_type = out_ptr.dtype.element_ty
        even_ptr = out_ptr + out_base + (2 * offs_n)[:, None].to(tl.int64) * sol + out_c[None, :]
        tl.store(even_ptr, (s - updated).to(out_type), mask=mask)
        tl.debug_barrier()  # P reads x_e at other positions
        _, predicted = _operator(out_ptr + out_base, sol, 2, out_c, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                                 wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        odd_ptr = out_ptr + out_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sol + out_c[None, :]
        tl.store(odd_ptr, (d + predicted).to(out_type), mask=mask)

    @triton.jit
    def _unlift_backward_kernel(
        grad_x_ptr, bands_ptr, grad_bands_ptr, scratch_ptr, partial_ptr, taps_ptr,
        wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, wu_ptr, bu_ptr, pwu_ptr, pbu_ptr,
        B2, R, C, n,
        sg1, sg2, sgl, sgr, sgc,
        band_stride, sb1, sb2, sbl, sbr,
        K: tl.constexpr, LEFT: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr,
        TANH: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        """Gradients of the bands and parameters of the inverse step; x_e recomputed into the scratch rows."""
        row, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows = _tile(
            B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N, BLOCK_C
        )
        detail_ptr = bands_ptr + band_stride + band_base
        s = tl.load(bands_ptr + band_base + band_rows, mask=mask, other=0.0).to(tl.float32)
        hidden_u, updated = _operator(detail_ptr, sbl, 1, offs_c, offs_n, offs_c, mask_n, mask_c, taps_ptr,
                                      wu_ptr, bu_ptr, pwu_ptr, pbu_ptr, K, HAS_BIAS, HAS_PW_BIAS, TANH)  # fmt: skip
        even_type = bands_ptr.dtype.element_ty  # x_e as the forward stored it (rounded to the bands' dtype)
        tl.store(scratch_ptr + band_base + band_rows, (s - updated).to(even_type).to(tl.float32), mask=mask)
        tl.debug_barrier()
        hidden_p, predicted = _operator(scratch_ptr + band_base, sbl, 1, offs_c, offs_n, offs_c, mask_n, mask_c,
                                        taps_ptr, wp_ptr, bp_ptr, pwp_ptr, pbp_ptr, K, HAS_BIAS, HAS_PW_BIAS,
                                        TANH)  # fmt: skip
        grad_base = grad_x_ptr + b1 * sg1 + b2 * sg2 + r * sgr
        grad_c = offs_c[None, :] * sgc
        grad_even = tl.load(grad_base + (2 * offs_n)[:, None].to(tl.int64) * sgl + grad_c, mask=mask, other=0.0)
        grad_odd = tl.load(grad_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sgl + grad_c, mask=mask, other=0.0)
        grad_even = grad_even.to(tl.float32)
        grad_odd = grad_odd.to(tl.float32)
        # P (x_o = d + P(x_e))
        value_p = tl.where(mask, grad_odd * _derivative(predicted, TANH), 0.0)
        pw_p = tl.load(pwp_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        hidden_grad_p = tl.where(hidden_p > 0, value_p * pw_p, 0.0)
        _parameter_sums(partial_ptr, row, 0, C, offs_n, offs_c, mask_n, mask_c, value_p, hidden_p, hidden_grad_p,
                        scratch_ptr + band_base, sbl, 1, offs_c, taps_ptr, K)  # fmt: skip
        tl.store(scratch_ptr + band_stride + band_base + band_rows, hidden_grad_p, mask=mask)
        tl.debug_barrier()
        grad_even += _transpose(scratch_ptr + band_stride + band_base, sbl, offs_n, offs_c, mask_n, mask_c, n,
                                taps_ptr, wp_ptr, K, LEFT, BLOCK_N, BLOCK_C)  # fmt: skip
        # U (x_e = s - U(d))
        value_u = tl.where(mask, -grad_even * _derivative(updated, TANH), 0.0)
        pw_u = tl.load(pwu_ptr + offs_c, mask=mask_c, other=0.0)[None, :]
        hidden_grad_u = tl.where(hidden_u > 0, value_u * pw_u, 0.0)
        _parameter_sums(partial_ptr, row, K + 3, C, offs_n, offs_c, mask_n, mask_c, value_u, hidden_u,
                        hidden_grad_u, detail_ptr, sbl, 1, offs_c, taps_ptr, K)  # fmt: skip
        tl.store(scratch_ptr + 2 * band_stride + band_base + band_rows, hidden_grad_u, mask=mask)
        tl.debug_barrier()
        grad_d = grad_odd + _transpose(scratch_ptr + 2 * band_stride + band_base, sbl, offs_n, offs_c, mask_n,
                                       mask_c, n, taps_ptr, wu_ptr, K, LEFT, BLOCK_N, BLOCK_C)  # fmt: skip
        out_type = grad_bands_ptr.dtype.element_ty
        tl.store(grad_bands_ptr + band_base + band_rows, grad_even.to(out_type), mask=mask)
        tl.store(grad_bands_ptr + band_stride + band_base + band_rows, grad_d.to(out_type), mask=mask)


def _block_sizes(n: int, channels: int) -> tuple[int, int]:
    block_n = max(16, triton.next_power_of_2(n))
    block_c = max(1, min(triton.next_power_of_2(channels), 4096 // block_n, 64))
    return block_n, block_c


MAX_LENGTH = 1024  # half-length rows up to this are one program's tile; longer rows take the other steps
DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # computed in float32 inside; float64 takes the other steps
_forced_on_cpu = 0


def serves(x: Tensor) -> bool:
    """Whether these kernels run the ladder on ``x`` (an ``(N, C, *S)`` input or a ``(2**l, N, *S, C)`` band buffer):
    Triton present and not turned off (``LIFTPOOL_TRITON=0``), a CUDA tensor (a CPU one inside ``triton_steps()``),
    a dtype of ``DTYPES``, and no axis longer than ``2 * MAX_LENGTH``."""
    on_device = x.device.type == "cuda" or (_forced_on_cpu > 0 and x.device.type == "cpu")
    return (
        on_device
        and available()
        and os.environ.get("LIFTPOOL_TRITON", "1") != "0"
        and x.dtype in DTYPES
        and max(x.shape[2:], default=0) <= 2 * MAX_LENGTH
    )


@contextlib.contextmanager
def triton_steps() -> Iterator[None]:
    """Within the block the layers run these kernels on CPU tensors too (where ``native_lifting`` does not serve them:
    within ``native_lifting.pytorch_steps()``, or with ``LIFTPOOL_NATIVE=0``); needs ``TRITON_INTERPRET=1`` set
    before this module is imported. For the tests. Not thread-local."""
    global _forced_on_cpu
    if not available():
        raise RuntimeError("triton_steps() needs Triton, which is not installed")
    _forced_on_cpu += 1
    try:
        yield
    finally:
        _forced_on_cpu -= 1


def lift_forward(
    x: Tensor, padding: Padding, with_losses: bool, predict: OperatorWeights, update: OperatorWeights,
    images: bool = False, activation: str = "tanh",
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """One forward lifting step (values only: the custom op below gives it to autograd): what
    ``fused_lifting.lift_rows`` returns, the bands as a contiguous ``(2, *batch, n, R, C)`` buffer."""
    rows = as_rows(x, images)
    x5 = _five_d(rows)
    b1, b2, length, r, c = x5.shape
    n = length // 2
    bands = x5.new_empty(2, b1, b2, n, r, c)
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    sums = torch.zeros(grid[0] * grid[1], 2, dtype=torch.float32, device=x.device)
    taps = _tap_table(n, padding, x.device)
    _lift_forward_kernel[grid](
        x5, bands, taps, sums, *_flat_weights(predict, update, x.device),
        b2, r, c, n,
        *x5.stride(),
        bands.stride(0), *bands.stride()[1:5],
        K=predict.weight.shape[-1], HAS_BIAS=predict.bias is not None,
        HAS_PW_BIAS=predict.pointwise_bias is not None, TANH=activation == "tanh", WITH_LOSSES=with_losses,
        BLOCK_N=block_n, BLOCK_C=block_c,
    )  # fmt: skip
    dtype = loss_dtype(x.dtype)
    if not with_losses:
        return bands.view(2, *rows.shape[:-3], n, r, c), x.new_zeros((), dtype=dtype), x.new_zeros((), dtype=dtype)
    count = b1 * b2 * n * r * c
    c_u, c_p = (sums[:, i].sum().div(count).to(dtype) for i in range(2))
    return bands.view(2, *rows.shape[:-3], n, r, c), c_u, c_p


def lift_backward(
    grad_bands: Tensor, grad_c_u: Tensor, grad_c_p: Tensor, x: Tensor, bands: Tensor, padding: Padding,
    with_losses: bool, predict: OperatorWeights, update: OperatorWeights, images: bool = False,
    losses_reach_input: bool = False, activation: str = "tanh",
) -> tuple[Tensor, list[Tensor | None]]:  # fmt: skip
    """Gradients of ``x``'s 5-D rows view (``_five_d``) and of P's then U's parameters (weight, bias, pointwise
    weight, pointwise bias; None for a missing bias) for ``lift_forward``'s outputs (values only: the custom op
    below gives them to autograd)."""
    rows = as_rows(x, images)
    x5 = _five_d(rows)
    b1, b2, length, r, c = x5.shape
    n = length // 2
    band_rows = bands.reshape(2, b1, b2, n, r, c)
    grads = grad_bands.reshape(2, b1, b2, n, r, c).contiguous()
    kernel_size = predict.weight.shape[-1]
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    grad_x = torch.empty_like(x5)
    scratch = torch.empty(3, b1, b2, n, r, c, dtype=torch.float32, device=x.device)
    partial = torch.empty(grid[0], 2 * (kernel_size + 3), c, dtype=torch.float32, device=x.device)
    scale = 2.0 / (b1 * b2 * n * r * c)
    loss_scales = torch.stack([grad_c_u.float(), grad_c_p.float()]) * scale
    _lift_backward_kernel[grid](
        x5, band_rows, grads, grad_x, scratch, partial, _tap_table(n, padding, x.device), loss_scales,
        *_flat_weights(predict, update, x.device),
        b2, r, c, n,
        *x5.stride(),
        band_rows.stride(0), *band_rows.stride()[1:5],
        K=kernel_size, LEFT=padding.left, HAS_BIAS=predict.bias is not None,
        HAS_PW_BIAS=predict.pointwise_bias is not None, TANH=activation == "tanh", WITH_LOSSES=with_losses,
        SPLIT=with_losses and not losses_reach_input, BLOCK_N=block_n, BLOCK_C=block_c,
    )  # fmt: skip
    return grad_x, _parameter_grads(partial, kernel_size, predict, update)


def _flat_weights(predict: OperatorWeights, update: OperatorWeights, device: torch.device) -> list[Tensor]:
    """P's then U's parameters as float32 contiguous tensors (a placeholder for a missing bias)."""
    dummy = torch.zeros(1, dtype=torch.float32, device=device)
    return [dummy if w is None else w.detach().float().contiguous() for w in (*predict, *update)]


def _own(t: Tensor, dtype: torch.dtype) -> Tensor:
    """A contiguous copy in ``dtype``: an op's results may not alias one another, and the fake functions promise
    contiguous gradients."""
    return t.to(dtype).clone(memory_format=torch.contiguous_format)


def _parameter_grads(
    partial: Tensor, kernel_size: int, predict: OperatorWeights, update: OperatorWeights
) -> list[Tensor | None]:
    """P's then U's parameter gradients from the programs' partial sums ``(programs, 2 * (K + 3), C)``."""
    sums = partial.sum(0)
    grads: list[Tensor | None] = []
    for offset, operator in ((0, predict), (kernel_size + 3, update)):
        block = sums[offset : offset + kernel_size + 3]
        weight, bias, pointwise_weight, pointwise_bias = operator
        grads += [
            _own(block[:kernel_size].t().reshape(weight.shape), weight.dtype),
            None if bias is None else _own(block[kernel_size], bias.dtype),
            _own(block[kernel_size + 1].reshape(pointwise_weight.shape), pointwise_weight.dtype),
            None if pointwise_bias is None else _own(block[kernel_size + 2], pointwise_bias.dtype),
        ]
    return grads


def unlift_forward(
    bands: Tensor, padding: Padding, channels_first: bool, predict: OperatorWeights, update: OperatorWeights,
    activation: str = "tanh",
) -> Tensor:  # fmt: skip
    """The inverse step (values only): bands ``(2, *batch, n, R, C)`` to rows ``(*batch, 2n, R, C)`` laid out as
    ``fused_lifting.unlift_rows`` lays them out."""
    from liftpool_lightning.nn.fused_lifting import _unlift_output
    from liftpool_lightning.nn.native_lifting import _five_d as five_d_view

    bands = bands.contiguous()
    out = _unlift_output(bands, channels_first)
    n, r, c = bands.shape[-3:]
    out5 = five_d_view(out)
    target = out5 if out5 is not None else five_d_view(torch.empty_like(out, memory_format=torch.contiguous_format))
    b1, b2 = target.shape[:2]
    band_rows = bands.view(2, b1, b2, n, r, c)  # the output's (B1, B2) split of the batch (bands are contiguous)
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    _unlift_forward_kernel[grid](
        band_rows, target, _tap_table(n, padding, bands.device), *_flat_weights(predict, update, bands.device),
        b2, r, c, n,
        *target.stride(),
        band_rows.stride(0), *band_rows.stride()[1:5],
        K=predict.weight.shape[-1], HAS_BIAS=predict.bias is not None,
        HAS_PW_BIAS=predict.pointwise_bias is not None, TANH=activation == "tanh", BLOCK_N=block_n, BLOCK_C=block_c,
    )  # fmt: skip
    if out5 is None:
        out.copy_(target.view(out.shape))
    return out


def unlift_backward(
    grad_x: Tensor, bands: Tensor, padding: Padding, predict: OperatorWeights, update: OperatorWeights,
    activation: str = "tanh",
) -> tuple[Tensor, list[Tensor | None]]:  # fmt: skip
    """Gradients of the bands (contiguous) and of P's then U's parameters for ``unlift_forward`` (values only)."""
    bands = bands.contiguous()
    n, r, c = bands.shape[-3:]
    grad5 = _five_d(grad_x)
    band_rows = bands.view(2, *grad5.shape[:2], n, r, c)
    b1, b2 = band_rows.shape[1:3]
    kernel_size = predict.weight.shape[-1]
    block_n, block_c = _block_sizes(n, c)
    grid = (b1 * b2 * r, triton.cdiv(c, block_c))
    grad_bands = torch.empty_like(bands)
    scratch = torch.empty(3, b1, b2, n, r, c, dtype=torch.float32, device=bands.device)
    partial = torch.empty(grid[0], 2 * (kernel_size + 3), c, dtype=torch.float32, device=bands.device)
    _unlift_backward_kernel[grid](
        grad5, band_rows, grad_bands, scratch, partial, _tap_table(n, padding, bands.device),
        *_flat_weights(predict, update, bands.device),
        b2, r, c, n,
        *grad5.stride(),
        band_rows.stride(0), *band_rows.stride()[1:5],
        K=kernel_size, LEFT=padding.left, HAS_BIAS=predict.bias is not None,
        HAS_PW_BIAS=predict.pointwise_bias is not None, TANH=activation == "tanh", BLOCK_N=block_n, BLOCK_C=block_c,
    )  # fmt: skip
    return grad_bands, _parameter_grads(partial, kernel_size, predict, update)


# ---------------------------------------------------------------------------------------------- custom ops
@torch.library.custom_op("liftpool::triton_lift_rows", mutates_args=())
def _triton_lift(
    x5: Tensor,
    left: int,
    right: int,
    mode: str,
    activation: str,
    with_losses: bool,
    losses_reach_input: bool,
    weights: list[Tensor],
) -> list[Tensor]:
    """[bands (2, B1, B2, n, R, C), c_u, c_p] of rows ``x5`` (B1, B2, L, R, C); ``losses_reach_input`` is for the
    backward."""
    predict, update = _weights(weights)
    return list(lift_forward(x5, Padding(left, right, mode), with_losses, predict, update, False, activation))


@_triton_lift.register_fake
def _(x5, left, right, mode, activation, with_losses, losses_reach_input, weights):
    b1, b2, length, r, c = x5.shape
    losses = [x5.new_empty((), dtype=loss_dtype(x5.dtype)) for _ in range(2)]
    return [x5.new_empty(2, b1, b2, length // 2, r, c), *losses]


@torch.library.custom_op("liftpool::triton_lift_rows_backward", mutates_args=())
def _triton_lift_backward(
    grad_bands: Tensor, grad_c_u: Tensor, grad_c_p: Tensor, x5: Tensor, bands: Tensor, left: int, right: int,
    mode: str, activation: str, with_losses: bool, losses_reach_input: bool, weights: list[Tensor],
) -> list[Tensor]:  # fmt: skip
    """[grad of x5 (x5's strides), grads of P's then U's parameters (empty for a missing bias)]."""
    predict, update = _weights(weights)
    grad_x, grads = lift_backward(grad_bands, grad_c_u, grad_c_p, x5, bands, Padding(left, right, mode), with_losses,
                                  predict, update, False, losses_reach_input, activation)  # fmt: skip
    return [grad_x, *(grad_x.new_empty(0) if g is None else g for g in grads)]


@_triton_lift_backward.register_fake
def _(grad_bands, grad_c_u, grad_c_p, x5, bands, left, right, mode, activation, with_losses, losses_reach_input,
      weights):  # fmt: skip
    return [torch.empty_like(x5), *(w.new_empty(w.shape) for w in weights)]


def _setup_lift(ctx, inputs, output) -> None:
    x5, left, right, mode, activation, with_losses, losses_reach_input, weights = inputs
    ctx.options = (left, right, mode, activation, with_losses, losses_reach_input)
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(x5, output[0], *weights)


def _backward_lift(ctx, grads):
    grad_bands, grad_c_u, grad_c_p = grads
    x5, bands, *weights = ctx.saved_tensors
    left, right, mode, activation, with_losses, losses_reach_input = ctx.options
    grad_bands = torch.zeros_like(bands) if grad_bands is None else grad_bands
    grad_c_u = bands.new_zeros((), dtype=torch.float32) if grad_c_u is None else grad_c_u
    grad_c_p = bands.new_zeros((), dtype=torch.float32) if grad_c_p is None else grad_c_p
    result = _triton_lift_backward(grad_bands, grad_c_u, grad_c_p, x5, bands, left, right, mode, activation,
                                   with_losses, losses_reach_input, weights)  # fmt: skip
    return result[0], None, None, None, None, None, None, result[1:]


_triton_lift.register_autograd(_backward_lift, setup_context=_setup_lift)
_triton_lift_backward.register_autograd(_no_double_backward)


def lift_rows(
    x: Tensor, padding: Padding, with_losses: bool, predict: OperatorWeights, update: OperatorWeights,
    images: bool = False, losses_reach_input: bool = False, activation: str = "tanh",
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """One forward lifting step, as ``fused_lifting.lift_rows`` (same arguments and results), by the Triton
    kernels."""
    rows = as_rows(x, images)
    x5 = _five_d(rows)  # a view of x where one exists (autograd sees it), else a copy
    flat = _flat(predict, update, x5)
    bands, c_u, c_p = _triton_lift(x5, *padding, activation, with_losses, losses_reach_input, flat)
    return bands.view(2, *rows.shape[:-3], *bands.shape[-3:]), c_u, c_p


@torch.library.custom_op("liftpool::triton_unlift_rows", mutates_args=())
def _triton_unlift(
    bands: Tensor, left: int, right: int, mode: str, activation: str, channels_first: bool, weights: list[Tensor]
) -> Tensor:
    """Rows ``(*batch, 2n, R, C)`` from contiguous ``bands`` ``(2, *batch, n, R, C)``."""
    predict, update = _weights(weights)
    return unlift_forward(bands, Padding(left, right, mode), channels_first, predict, update, activation)


@_triton_unlift.register_fake
def _(bands, left, right, mode, activation, channels_first, weights):
    from liftpool_lightning.nn.fused_lifting import _unlift_output

    return _unlift_output(bands, channels_first)


@torch.library.custom_op("liftpool::triton_unlift_rows_backward", mutates_args=())
def _triton_unlift_backward(
    grad_x: Tensor, bands: Tensor, left: int, right: int, mode: str, activation: str, weights: list[Tensor]
) -> list[Tensor]:
    """[grad of bands, grads of P's then U's parameters (empty for a missing bias)]."""
    predict, update = _weights(weights)
    grad_bands, grads = unlift_backward(grad_x, bands, Padding(left, right, mode), predict, update, activation)
    return [grad_bands, *(grad_bands.new_empty(0) if g is None else g for g in grads)]


@_triton_unlift_backward.register_fake
def _(grad_x, bands, left, right, mode, activation, weights):
    return [torch.empty_like(bands), *(w.new_empty(w.shape) for w in weights)]


register_unlift_autograd(_triton_unlift, _triton_unlift_backward)


def unlift_rows(
    bands: Tensor, padding: Padding, channels_first: bool, predict: OperatorWeights, update: OperatorWeights,
    activation: str = "tanh",
) -> Tensor:  # fmt: skip
    """One inverse lifting step, as ``fused_lifting.unlift_rows`` (same arguments and result), by the Triton
    kernels."""
    flat = _flat(predict, update, bands)
    return _triton_unlift(bands.contiguous(), *padding, activation, channels_first, flat)
