"""A torch stand-in for causal-conv1d's compiled CUDA extension `causal_conv1d_cuda` (calibration only).

causal-conv1d 1.7.0 installed with CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE is its own Python code (the
autograd Function, `causal_conv1d_fn`, `causal_conv1d_update`, `cpp_functions`) without the
extension. This module is that extension: the three functions `cpp_functions` calls, with the
C++ signatures (csrc/causal_conv1d.cpp of the 1.7.0 sdist): results go into the caller's `out`,
`final_states_out`, `dx`, `dweight`, `dbias`, `dinitial_states` tensors. mamba-ssm's
`mamba_split_conv1d_scan_combined` reaches it through `causal_conv1d.cpp_functions` too.

Semantics follow the CUDA kernels: a depthwise causal convolution of width 2-4 accumulated in
float32, optional SiLU, `seq_idx` (channel-last inputs only, as in CUDA: an input counts for an
output only in the same sequence, outputs of negative `seq_idx` are zero), initial states (taken
as part of the first sequence) and final states. Channels are processed in blocks so that the
float32 temporaries stay under BLOCK_BYTES; the tensors it returns are the kernel's. What the
CUDA code refuses, this refuses with the same message; the circular-buffer and
continuous-batching forms of `causal_conv1d_update` (cache_seqlens, conv_state_indices), which no
training path uses, raise NotImplementedError.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

STAND_IN = "torch stand-in for causal_conv1d_cuda (bench/vram_calibration/shims)"
BLOCK_BYTES = 64 * 2**20  # float32 temporaries of one channel block
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise RuntimeError(message)


def _check_inputs(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    seq_idx: torch.Tensor | None,
    states: dict[str, torch.Tensor | None],
) -> bool:
    """The CUDA extension's argument checks; returns whether x is channel-last."""
    _check(
        x.dim() == 3 and weight.dim() == 2,
        "causal_conv1d: x must be (batch, dim, seqlen), weight (dim, width)",
    )
    _check(
        x.dtype in _DTYPES and weight.dtype in _DTYPES,
        "causal_conv1d: only float32, float16 and bfloat16",
    )
    batch, dim, seqlen = x.shape
    width = weight.shape[1]
    _check(weight.shape[0] == dim, "weight must have shape (dim, width)")
    _check(2 <= width <= 4, "causal_conv1d only supports width between 2 and 4")
    _check(
        x.stride(2) == 1 or x.stride(1) == 1, "x must be contiguous along dim or seqlen"
    )
    channel_last = x.stride(1) == 1 and x.stride(2) > 1
    if channel_last:
        _check(
            dim % 8 == 0,
            "causal_conv1d only supports channel dimension divisible by 8 for now",
        )
        _check(
            x.stride(2) % 8 == 0 and x.stride(0) % 8 == 0,
            "causal_conv1d with channel last layout requires strides (x.stride(0) and x.stride(2)) to be multiples of 8",
        )
    if bias is not None:
        _check(
            bias.dtype == weight.dtype and bias.shape == (dim,),
            "bias must be (dim,) in the weight's dtype",
        )
    if seq_idx is not None:
        _check(channel_last, "seq_idx is only supported for channel last layout")
        _check(
            seq_idx.dtype == torch.int32 and seq_idx.is_contiguous(),
            "seq_idx must be contiguous int32",
        )
        _check(
            tuple(seq_idx.shape) == (batch, seqlen),
            "seq_idx must have shape (batch_size, seqlen)",
        )
    for name, t in states.items():
        if t is not None:
            _check(channel_last, f"{name} is only supported for channel last layout")
            _check(
                tuple(t.shape) == (batch, dim, width - 1),
                f"{name} must have shape (batch_size, dim, width - 1)",
            )
    return channel_last


def _pre_activation(
    xp: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, masks: list | None
) -> torch.Tensor:
    """float32 conv of one channel block before SiLU: xp (B, C, W-1+L) left-padded, w (C, W), masks[k] (B, 1, L)."""
    width = w.shape[1]
    seqlen = xp.shape[-1] - (width - 1)
    if masks is None:
        return F.conv1d(xp, w.unsqueeze(1), b, groups=w.shape[0])
    out = sum(xp[:, :, k : k + seqlen] * w[:, k, None] * masks[k] for k in range(width))
    return out + b[:, None] if b is not None else out


def _conv_block(xp, w, b, masks, valid, silu: bool) -> torch.Tensor:
    out = _pre_activation(xp, w, b, masks)
    out = F.silu(out) if silu else out
    return out if valid is None else out * valid


def _conv_block_bwd(xp, w, b, masks, valid, silu: bool, dout: torch.Tensor):
    """(dxp, dw, db) of _conv_block, by hand: the custom op that calls the extension runs below autograd."""
    width = w.shape[1]
    seqlen = xp.shape[-1] - (width - 1)
    g = dout if valid is None else dout * valid
    if silu:
        pre = _pre_activation(xp, w, b, masks)
        sig = torch.sigmoid(pre)
        g = g * sig * (1 + pre * (1 - sig))
        del pre, sig
    dxp = torch.zeros_like(xp)
    dw = torch.empty_like(w)
    for k in range(width):
        gk = g if masks is None else g * masks[k]
        dxp[:, :, k : k + seqlen] += gk * w[:, k, None]
        dw[:, k] = (gk * xp[:, :, k : k + seqlen]).sum(dim=(0, 2))
    return dxp, dw, (g.sum(dim=(0, 2)) if b is not None else None)


def _seq_masks(seq_idx: torch.Tensor | None, width: int, has_initial: bool):
    """Per tap k, whether input t-(W-1)+k is in output t's sequence; and which outputs are real tokens."""
    if seq_idx is None:
        return None, None
    first = seq_idx[:, :1] if has_initial else torch.full_like(seq_idx[:, :1], -1)
    padded = torch.cat([first.expand(-1, width - 1), seq_idx], dim=1)
    seqlen = seq_idx.shape[1]
    masks = [
        (padded[:, k : k + seqlen] == seq_idx).unsqueeze(1).float()
        for k in range(width)
    ]
    return masks, (seq_idx >= 0).unsqueeze(1).float()


def _padded(
    x: torch.Tensor, initial_states: torch.Tensor | None, c0: int, c1: int, width: int
) -> torch.Tensor:
    xs = x[:, c0:c1].float()
    left = (
        initial_states[:, c0:c1].float()
        if initial_states is not None
        else xs.new_zeros(xs.shape[0], c1 - c0, width - 1)
    )
    return torch.cat([left, xs], dim=-1)


def _blocks(x: torch.Tensor):
    batch, dim, seqlen = x.shape
    step = max(8, BLOCK_BYTES // max(1, 4 * batch * (seqlen + 4) * 3))
    return [(c, min(dim, c + step)) for c in range(0, dim, step)]


def causal_conv1d_fwd(
    x, weight, bias, seq_idx, initial_states, out, final_states_out, silu_activation
) -> None:
    """out[:] = (SiLU of) the causal depthwise conv of x; final_states_out[:] = the last width-1 inputs."""
    _check_inputs(
        x,
        weight,
        bias,
        seq_idx,
        {"initial_states": initial_states, "final_states": final_states_out},
    )
    width = weight.shape[1]
    masks, valid = _seq_masks(seq_idx, width, initial_states is not None)
    with torch.no_grad():
        for c0, c1 in _blocks(x):
            xp = _padded(x, initial_states, c0, c1, width)
            b = bias[c0:c1].float() if bias is not None else None
            out[:, c0:c1].copy_(
                _conv_block(xp, weight[c0:c1].float(), b, masks, valid, silu_activation)
            )
            if final_states_out is not None:
                final_states_out[:, c0:c1].copy_(xp[:, :, -(width - 1) :])


def causal_conv1d_bwd(
    x,
    weight,
    bias,
    dout,
    seq_idx,
    initial_states,
    dfinal_states,
    dx,
    dweight,
    dbias,
    dinitial_states,
    silu_activation,
) -> None:
    """Gradients of causal_conv1d_fwd: dx and dinitial_states written, dweight and dbias (float32) added to."""
    _check_inputs(
        x,
        weight,
        bias,
        seq_idx,
        {"initial_states": initial_states, "dfinal_states": dfinal_states},
    )
    _check((bias is None) == (dbias is None), "bias and dbias must be given together")
    width = weight.shape[1]
    masks, valid = _seq_masks(seq_idx, width, initial_states is not None)
    for c0, c1 in _blocks(x):
        xp = _padded(x, initial_states, c0, c1, width)
        b = bias[c0:c1].float() if bias is not None else None
        dxp, dw, db = _conv_block_bwd(
            xp,
            weight[c0:c1].float(),
            b,
            masks,
            valid,
            silu_activation,
            dout[:, c0:c1].float(),
        )
        if dfinal_states is not None:  # final_states = the last width-1 columns of xp
            dxp[:, :, -(width - 1) :] += dfinal_states[:, c0:c1].float()
        dx[:, c0:c1].copy_(dxp[:, :, width - 1 :])
        dweight[c0:c1].add_(dw)
        if dbias is not None:
            dbias[c0:c1].add_(db)
        if dinitial_states is not None:
            dinitial_states[:, c0:c1].copy_(dxp[:, :, : width - 1])


def causal_conv1d_update(
    x, conv_state, weight, bias, out, silu_activation, cache_seqlens, conv_state_indices
) -> None:
    """Decode step: out[:] = conv of x (B, D, L) after conv_state (B, D, S >= width-1), which then shifts by L."""
    if cache_seqlens is not None or conv_state_indices is not None:
        raise NotImplementedError(
            f"{STAND_IN}: causal_conv1d_update with cache_seqlens or conv_state_indices"
        )
    _check(
        x.dim() == 3 and conv_state.dim() == 3,
        "x must be (batch, dim, seqlen), conv_state (batch, dim, state_len)",
    )
    _check(conv_state.dtype == x.dtype, "conv_state must have the input's dtype")
    width, state_len = weight.shape[1], conv_state.shape[-1]
    _check(2 <= width <= 4, "causal_conv1d only supports width between 2 and 4")
    _check(state_len >= width - 1, "conv_state_len must be >= width - 1")
    with torch.no_grad():
        xp = torch.cat(
            [conv_state[:, :, state_len - (width - 1) :].float(), x.float()], dim=-1
        )
        b = bias.float() if bias is not None else None
        out.copy_(_conv_block(xp, weight.float(), b, None, None, silu_activation))
        conv_state.copy_(torch.cat([conv_state, x], dim=-1)[:, :, -state_len:])
