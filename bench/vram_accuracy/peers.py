"""Other estimators' formulas, re-implemented from their published descriptions (each function
names its source; facts, not code), scored on our cells.

Each takes a Cell and returns GiB, or None where the peer has no answer for that kind of run.
"""

from __future__ import annotations

import math

from cells import GIB, Cell

from finetune_advisor.vram.shapes import shapes

GB = 1e9
MIB = 1024**2


def accelerate_estimate_memory(c: Cell) -> float | None:
    """`accelerate estimate-memory`, bf16 row, "Training using Adam": the largest of model (fp32 size),
    gradients (1.5x fp32), optimizer (2x fp32) and step, i.e. 8 bytes per parameter. No LoRA."""
    if c.run.method != "full":
        return None
    return 8 * shapes(c.arch).total_params / GIB


def gpu_poor(c: Cell) -> float | None:
    """RahulSChand/gpu_poor: model size from a config, activations per layer (x0.15 with gradient
    checkpointing), gradients + Adam state, fixed 650 MB; all in MiB."""
    a, r = c.arch, c.run
    h, i, n, heads, v = a.hidden_size, a.intermediate_size or 4 * a.hidden_size, a.num_hidden_layers, a.num_attention_heads, a.vocab_size
    s, b, fb = r.seq_len, r.batch_size, 2
    params = v * h * 2 + n * 4 * h * h + n * 3 * h * i
    size = params * 2 / MIB
    if r.method == "qlora":
        size = size / 4 - params * 2 / (64 * MIB) + 0.06 * size
    attn = s * h * 5 * fb + 2 * s * s * heads * fb + s * s * heads * 4 + 3 * s * h * fb
    ffn = 2 * h * s * fb + 6 * s * i * fb
    norm = s * 8 + 6 * s * h * fb
    act = (attn + ffn + norm) * n * b / MIB
    if r.gradient_checkpointing:
        act *= 0.15
    if r.method == "full":
        grad_opt = params * 3 * fb
    elif r.method == "lora":
        grad_opt = n * 8 * h * 2 * 4 * 3 * 2
    else:
        grad_opt = n * 8 * h * 0.5 * 4 * 3 + 0.75 * (15 * h + 6 * i) * n * 50 * math.sqrt(s / 50) * b
    return (size + act + grad_opt / MIB + 650) * MIB / GIB


# LLaMA-Factory README "Hardware Requirement" (hiyouga/LLaMA-Factory@ff6d4d1), the `x`B column, in GB.
_LLAMA_FACTORY = {"full": 8.0, "lora": 2.0, "qlora": 0.5}  # Full pure_bf16 8x, LoRA 2x, QLoRA 4-bit x/2


def llama_factory(c: Cell) -> float | None:
    """LLaMA-Factory's README hardware table (hiyouga/LLaMA-Factory@ff6d4d1:README.md), GB per billion parameters."""
    return _LLAMA_FACTORY[c.run.method] * c.params_b * GB / GIB


def unsloth_studio(c: Cell) -> float | None:
    """Unsloth Studio's estimator (unslothai/unsloth@015bdef:studio/backend/utils/hardware/VRAM_ESTIMATION.md):
    weights + LoRA adapters + optimizer + gradients (with floors) + activations + 1.4 GB."""
    a, r = c.arch, c.run
    h, n, v, m = a.hidden_size, a.num_hidden_layers, a.vocab_size, a.moe_intermediate_size or a.intermediate_size or 4 * a.hidden_size
    e = a.num_experts or 1
    q = a.num_attention_heads * a.attention_head_dim  # per-layer shapes: head_dim as the config gives it
    kv = a.kv_heads * a.attention_head_dim
    qkvo = (2 * q + 2 * kv) * h
    mlp = 3 * h * m * e + (e * h if e > 1 else 0)
    quantizable = (qkvo + mlp) * n
    other = 2 * h * n + v * h * (1 if a.tie_word_embeddings else 2)
    weights = quantizable * 2 / 3.6 + other * 2 if r.method == "qlora" else (quantizable + other) * 2
    per_layer = {"q_proj": h * r.lora_rank + r.lora_rank * q, "k_proj": h * r.lora_rank + r.lora_rank * kv,
                 "v_proj": h * r.lora_rank + r.lora_rank * kv, "o_proj": q * r.lora_rank + r.lora_rank * h,
                 "gate_proj": (h * r.lora_rank + r.lora_rank * m) * e, "up_proj": (h * r.lora_rank + r.lora_rank * m) * e,
                 "down_proj": (m * r.lora_rank + r.lora_rank * h) * e}
    lora_params = 0 if r.method == "full" else n * sum(per_layer[t] for t in r.target_modules)
    trainable = quantizable + other if r.method == "full" else lora_params
    opt_bytes = {"adamw_8bit": 4, "paged_adamw_8bit": 4, "adamw_torch": 6, "adamw_torch_fused": 6, "paged_adamw_32bit": 8}
    optimizer = trainable * opt_bytes[r.optimizer]
    tokens = r.seq_len * r.batch_size
    layer_act = (tokens * (h + 2 * kv) + 2 * tokens + 2 * tokens * m) * 2 * 1.25
    if not r.gradient_checkpointing:
        act = layer_act * n
    else:
        act = layer_act * (2.0 if r.method == "full" else 1.0)
    grads = trainable * 2
    if r.method == "full":
        grads = max(grads, 0.15 * weights)
    else:
        grads = max(grads, min(0.15 * weights, max(act, optimizer)))
    adapters = lora_params * 2
    return (weights + adapters + optimizer + grads + act + 1.4 * GB) / GIB


# Unsloth requirements page (unsloth-docs.md §1.3): minimum GB by parameter count.
_UNSLOTH_TABLE = ((3, 3.5, 8), (7, 5, 19), (8, 6, 22), (9, 6.5, 24), (11, 7.5, 29), (14, 8.5, 33), (27, 22, 64),
                  (32, 26, 76), (40, 30, 96), (70, 41, 164), (81, 48, 192), (90, 53, 212), (405, 237, 950))


def unsloth_docs_table(c: Cell) -> float | None:
    """The docs' QLoRA / LoRA minimum, interpolated linearly in parameters (scaled below 3B). No full."""
    if c.run.method == "full":
        return None
    col = 1 if c.run.method == "qlora" else 2
    p = c.params_b
    rows = _UNSLOTH_TABLE
    if p <= rows[0][0]:
        return rows[0][col] * p / rows[0][0] * GB / GIB
    for lo, hi in zip(rows, rows[1:]):
        if p <= hi[0]:
            t = (p - lo[0]) / (hi[0] - lo[0])
            return (lo[col] + t * (hi[col] - lo[col])) * GB / GIB
    return rows[-1][col] * p / rows[-1][0] * GB / GIB


PEERS = {
    "accelerate estimate-memory": accelerate_estimate_memory,
    "gpu_poor": gpu_poor,
    "LLaMA-Factory table": llama_factory,
    "Unsloth Studio estimator": unsloth_studio,
    "Unsloth docs table": unsloth_docs_table,
}
