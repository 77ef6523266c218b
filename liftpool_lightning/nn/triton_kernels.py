"""The Triton kernels of the lifting steps (launched by ``triton_lifting``): one program lifts one row (one
``(b1, b2, r)`` of rows ``(B1, B2, L, R, C)``, any strides) for a block of channels.

It gathers the even samples through the padding table (``_step_common.tap_sources``), evaluates
``P = act(pw * relu(conv_K(x_e) + b) + pb)`` in float32, writes ``d = x_o - P``, re-reads ``d`` through the table for
``U`` and writes ``s = x_e + U(d)``, and adds its share of the constraint losses' sums. The backward recomputes P and
U from the step's input and bands and writes each program's share of the parameters' gradients (summed afterwards:
deterministic). Offsets are int64 (tensors past 2**31 elements), every output is written through its own strides,
and ``relu`` keeps NaN as ``torch.relu`` does.
"""

# ruff: noqa: N803  (Triton kernels: compile-time constants and sizes in capitals, as Triton writes them)
from __future__ import annotations

try:  # Triton comes with CUDA builds of torch; without it the other backends serve
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where Triton is missing
    triton = None

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
        hidden = tl.where(acc < 0.0, 0.0, acc)  # relu keeping NaN (tl.maximum drops it on a GPU)
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
        offs_c = (tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)).to(tl.int64)  # times strides: int64
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
        band_stride = band_stride.to(tl.int64)  # 2 * band_stride overflows int32 past 2**30 elements a band
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
            program = row.to(tl.int64) * tl.num_programs(1) + tl.program_id(1)
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
        sg1, sg2, sgl, sgr, sgc,
        band_stride, sb1, sb2, sbl, sbr,
        K: tl.constexpr, LEFT: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_PW_BIAS: tl.constexpr,
        TANH: tl.constexpr, WITH_LOSSES: tl.constexpr, SPLIT: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        """Gradients of a forward step: ``x`` read through its strides (``sx*``), its gradient written through its
        own (``sg*``: a dense gradient of a sliced or narrowed ``x`` has other strides)."""
        row, b1, b2, r, offs_n, offs_c, mask_n, mask_c, mask, band_base, band_rows = _tile(
            B2, R, C, n, sb1, sb2, sbl, sbr, BLOCK_N, BLOCK_C
        )
        band_stride = band_stride.to(tl.int64)  # 2 * band_stride overflows int32 past 2**30 elements a band
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
        grad_base = grad_x_ptr + b1 * sg1 + b2 * sg2 + r * sgr + offs_c[None, :] * sgc
        tl.store(grad_base + (2 * offs_n)[:, None].to(tl.int64) * sgl, grad_even.to(out_type), mask=mask)
        tl.store(grad_base + (2 * offs_n + 1)[:, None].to(tl.int64) * sgl, grad_odd.to(out_type), mask=mask)

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
        band_stride = band_stride.to(tl.int64)
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
        band_stride = band_stride.to(tl.int64)  # 2 * band_stride overflows int32 past 2**30 elements a band
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
