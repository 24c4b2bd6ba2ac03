"""The torch stand-in for causal-conv1d's CUDA extension (bench/vram_calibration/shims/causal_conv1d_cuda.py).

The calibration runs on the GPU machine train Mamba-2 hybrids through it, so it must compute
what the CUDA kernel computes: checked here against a plain F.conv1d reference in float64 on CPU,
forward and backward, over random shapes, with and without bias and SiLU, with packed sequences
(seq_idx), initial and final states, and the decode update. Skips where torch is absent (CI).
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHIM = (
    Path(__file__).resolve().parents[2]
    / "bench"
    / "vram_calibration"
    / "shims"
    / "causal_conv1d_cuda.py"
)


@pytest.fixture(scope="module")
def shim():
    spec = importlib.util.spec_from_file_location("causal_conv1d_cuda_under_test", SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(x, weight, bias, silu, initial=None):
    """Causal depthwise conv as a plain F.conv1d over [initial | x], in float64."""
    width = weight.shape[1]
    left = (
        initial.double()
        if initial is not None
        else x.new_zeros(x.shape[0], x.shape[1], width - 1).double()
    )
    xp = torch.cat([left, x.double()], dim=-1)
    out = F.conv1d(
        xp,
        weight.double().unsqueeze(1),
        bias.double() if bias is not None else None,
        groups=x.shape[1],
    )
    return (F.silu(out) if silu else out), xp[:, :, -(width - 1) :]


def channel_last(batch, dim, seqlen, dtype=torch.float32):
    """(batch, dim, seqlen) with dim contiguous, as mamba-ssm and transformers pass x."""
    return torch.randn(batch, seqlen, dim, dtype=dtype).transpose(1, 2)


def run_fwd(shim, x, weight, bias, silu, seq_idx=None, initial=None, final=None):
    out = torch.empty_like(x)
    shim.causal_conv1d_fwd(x, weight, bias, seq_idx, initial, out, final, silu)
    return out


def run_bwd(shim, x, weight, bias, dout, silu, seq_idx=None, initial=None, dfinal=None):
    dx = torch.empty_like(x)
    dweight = torch.zeros_like(weight, dtype=torch.float32)
    dbias = torch.zeros_like(bias, dtype=torch.float32) if bias is not None else None
    dinit = torch.empty_like(initial) if initial is not None else None
    shim.causal_conv1d_bwd(
        x, weight, bias, dout, seq_idx, initial, dfinal, dx, dweight, dbias, dinit, silu
    )
    return dx, dweight, dbias, dinit


def cases(n):
    rng = random.Random(11)
    for _ in range(n):
        yield (
            rng.randint(1, 3),
            8 * rng.randint(1, 6),
            rng.randint(1, 70),
            rng.randint(2, 4),
            rng.random() < 0.5,
            rng.random() < 0.5,
            rng.random() < 0.5,
        )


@pytest.mark.parametrize(
    ("batch", "dim", "seqlen", "width", "with_bias", "silu", "last"), list(cases(12))
)
def test_forward_and_backward_match_the_reference(
    shim, batch, dim, seqlen, width, with_bias, silu, last
):
    x = channel_last(batch, dim, seqlen) if last else torch.randn(batch, dim, seqlen)
    weight, bias = torch.randn(dim, width), (torch.randn(dim) if with_bias else None)
    out = run_fwd(shim, x, weight, bias, silu)
    xr, wr = x.double().requires_grad_(), weight.double().requires_grad_()
    br = bias.double().requires_grad_() if bias is not None else None
    ref, _ = reference(xr, wr, br, silu)
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-5, atol=1e-5)

    dout = torch.randn_like(x)
    dx, dweight, dbias, _ = run_bwd(shim, x, weight, bias, dout, silu)
    grads = torch.autograd.grad(
        ref, [t for t in (xr, wr, br) if t is not None], dout.double()
    )
    torch.testing.assert_close(dx.double(), grads[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dweight.double(), grads[1], rtol=1e-4, atol=1e-4)
    if bias is not None:
        torch.testing.assert_close(dbias.double(), grads[2], rtol=1e-4, atol=1e-4)


def test_bfloat16_inputs_are_accumulated_in_float32_and_returned_in_bfloat16(shim):
    x = channel_last(2, 64, 300, torch.bfloat16)
    weight, bias = (
        torch.randn(64, 4, dtype=torch.bfloat16),
        torch.randn(64, dtype=torch.bfloat16),
    )
    out = run_fwd(shim, x, weight, bias, True)
    assert out.dtype == torch.bfloat16
    ref, _ = reference(x, weight, bias, True)
    torch.testing.assert_close(out.double(), ref, rtol=1.6e-2, atol=1e-2)


def packed_seq_idx(batch, seqlen, rng):
    """Contiguous runs of sequence ids per row, the tail sometimes padding (-1)."""
    rows = []
    for _ in range(batch):
        cuts = sorted(rng.sample(range(1, seqlen), k=min(3, seqlen - 1)))
        row, seq = [], 0
        for t in range(seqlen):
            seq += t in cuts
            row.append(seq)
        if rng.random() < 0.5:
            n = rng.randint(1, 3)
            row[-n:] = [-1] * n
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int32)


def per_sequence_reference(x, weight, bias, silu, seq_idx):
    """Each contiguous run of one id convolved on its own; padding positions zero."""
    out = torch.zeros(x.shape, dtype=torch.float64)
    for b in range(x.shape[0]):
        ids = seq_idx[b].tolist()
        start = 0
        for t in range(1, len(ids) + 1):
            if t == len(ids) or ids[t] != ids[start]:
                if ids[start] >= 0:
                    seg, _ = reference(x[b : b + 1, :, start:t], weight, bias, silu)
                    out[b : b + 1, :, start:t] = seg
                start = t
    return out


@pytest.mark.parametrize("seed", range(4))
def test_packed_sequences_never_see_each_other(shim, seed):
    rng = random.Random(seed)
    batch, dim, seqlen, width = (
        rng.randint(1, 3),
        16,
        rng.randint(8, 50),
        rng.randint(2, 4),
    )
    x, weight, bias = (
        channel_last(batch, dim, seqlen),
        torch.randn(dim, width),
        torch.randn(dim),
    )
    seq_idx = packed_seq_idx(batch, seqlen, rng)
    out = run_fwd(shim, x, weight, bias, True, seq_idx=seq_idx)
    ref = per_sequence_reference(x, weight, bias, True, seq_idx)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)

    xr = x.double().requires_grad_()
    wr, br = weight.double().requires_grad_(), bias.double().requires_grad_()
    dout = torch.randn_like(x)
    grads = torch.autograd.grad(
        per_sequence_reference(xr, wr, br, True, seq_idx), [xr, wr, br], dout.double()
    )
    dx, dweight, dbias, _ = run_bwd(shim, x, weight, bias, dout, True, seq_idx=seq_idx)
    for got, want in zip((dx, dweight, dbias), grads):
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


def test_initial_and_final_states_continue_the_sequence(shim):
    batch, dim, seqlen, width = 2, 24, 13, 4
    x, weight, bias = (
        channel_last(batch, dim, seqlen),
        torch.randn(dim, width),
        torch.randn(dim),
    )
    initial = torch.randn(batch, width - 1, dim).transpose(1, 2)
    final = torch.empty(batch, width - 1, dim).transpose(1, 2)
    out = run_fwd(shim, x, weight, bias, False, initial=initial, final=final)
    ref, ref_final = reference(x, weight, bias, False, initial)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(final.double(), ref_final)

    xr, ir = x.double().requires_grad_(), initial.double().requires_grad_()
    dout, dfinal = torch.randn_like(x), torch.randn_like(final)
    ref, ref_final = reference(xr, weight, bias, False, ir)
    want = torch.autograd.grad(
        [ref, ref_final], [xr, ir], [dout.double(), dfinal.double()]
    )
    dx, _, _, dinit = run_bwd(
        shim, x, weight, bias, dout, False, initial=initial, dfinal=dfinal
    )
    torch.testing.assert_close(dx.double(), want[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dinit.double(), want[1], rtol=1e-4, atol=1e-4)


def test_the_decode_update_matches_running_the_whole_sequence(shim):
    dim, width, state_len = 16, 4, 5
    weight, bias = torch.randn(dim, width), torch.randn(dim)
    x = torch.randn(2, dim, 9)
    full, _ = reference(x, weight, bias, True)
    state = torch.zeros(2, dim, state_len)
    for t in range(9):
        out = torch.empty(2, dim, 1)
        shim.causal_conv1d_update(
            x[:, :, t : t + 1].contiguous(), state, weight, bias, out, True, None, None
        )
        torch.testing.assert_close(
            out.double(), full[:, :, t : t + 1], rtol=1e-5, atol=1e-5
        )
    torch.testing.assert_close(state, x[:, :, -state_len:])


def test_what_the_cuda_kernel_refuses_is_refused(shim):
    x = channel_last(1, 16, 10)
    with pytest.raises(RuntimeError, match="width between 2 and 4"):
        run_fwd(shim, x, torch.randn(16, 5), None, False)
    with pytest.raises(
        RuntimeError, match="seq_idx is only supported for channel last"
    ):
        run_fwd(
            shim,
            torch.randn(1, 16, 10),
            torch.randn(16, 4),
            None,
            False,
            seq_idx=torch.zeros(1, 10, dtype=torch.int32),
        )
    with pytest.raises(RuntimeError, match="divisible by 8"):
        run_fwd(shim, channel_last(1, 12, 10), torch.randn(12, 4), None, False)
    with pytest.raises(NotImplementedError, match="cache_seqlens"):
        shim.causal_conv1d_update(
            torch.randn(1, 16, 1),
            torch.zeros(1, 16, 3),
            torch.randn(16, 4),
            None,
            torch.empty(1, 16, 1),
            False,
            torch.zeros(1, dtype=torch.int32),
            None,
        )


def test_channel_blocks_give_the_same_answer_as_one_block(shim, monkeypatch):
    x, weight, bias = channel_last(2, 64, 40), torch.randn(64, 3), torch.randn(64)
    whole = run_fwd(shim, x, weight, bias, True)
    monkeypatch.setattr(shim, "BLOCK_BYTES", 1)  # 8 channels a block
    assert len(shim._blocks(x)) == 8
    torch.testing.assert_close(run_fwd(shim, x, weight, bias, True), whole)


def test_through_causal_conv1d_own_wrapper_when_installed(monkeypatch):
    """With the causal-conv1d wheel of .whl-hybrid installed, its autograd Function runs on the shim."""
    if importlib.util.find_spec("causal_conv1d") is None:
        pytest.skip("causal-conv1d (.whl-hybrid) not installed")
    monkeypatch.syspath_prepend(str(SHIM.parent))
    from causal_conv1d import causal_conv1d_fn

    x = channel_last(2, 32, 37).requires_grad_()
    weight, bias = (
        torch.randn(32, 4, requires_grad=True),
        torch.randn(32, requires_grad=True),
    )
    seq_idx = packed_seq_idx(2, 37, random.Random(5))
    out = causal_conv1d_fn(x, weight, bias, seq_idx=seq_idx, activation="silu")
    xr, wr, br = (t.detach().double().requires_grad_() for t in (x, weight, bias))
    ref = per_sequence_reference(xr, wr, br, True, seq_idx)
    torch.testing.assert_close(
        out.double(), ref, rtol=1e-5, atol=1e-5, check_dtype=False
    )
    dout = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, weight, bias], dout)
    want = torch.autograd.grad(ref, [xr, wr, br], dout.double())
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-4)
