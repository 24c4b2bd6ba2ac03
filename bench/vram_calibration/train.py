"""Optimizers and the training step the calibration measures (what transformers' Trainer does)."""

from __future__ import annotations

import time

import torch

OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit")
MAX_GRAD_NORM = 1.0  # Trainer's default; clipping runs every step as it does there


def make_optimizer(name: str, params: list[torch.nn.Parameter]):
    lr = 1e-5
    if name == "adamw_torch":  # Trainer's adamw_torch: torch.optim.AdamW, foreach on CUDA
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if name == "adamw_torch_fused":
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True)
    import bitsandbytes as bnb

    cls = {
        "adamw_8bit": bnb.optim.AdamW8bit,
        "paged_adamw_8bit": bnb.optim.PagedAdamW8bit,
        "paged_adamw_32bit": bnb.optim.PagedAdamW32bit,
    }[name]
    return cls(params, lr=lr, weight_decay=0.0)


def optimizer_state_bytes(opt) -> dict:
    dev = paged = 0
    for st in opt.state.values():
        for v in st.values():
            if torch.is_tensor(v) and v.numel() > 1:
                n = v.numel() * v.element_size()
                if getattr(v, "is_paged", False):
                    paged += n
                else:
                    dev += n
    return {"optimizer_state_bytes": dev, "optimizer_paged_state_bytes": paged}


def train_steps(model, opt, params, input_ids: torch.Tensor, steps: int, per_step: list, losses: list,
                autocast: bool = False):
    """forward (labels = input_ids), backward, clip, optimizer step, zero_grad; per-step peaks and wall
    times (after a synchronize, so the step-time fit in bench/throughput can read steps 2+ only).

    `autocast`: the forward under bf16 autocast, as Trainer(bf16=True) runs it (accelerate wraps the forward
    only; backward follows the forward's dtypes). Without it, a QLoRA model that peft's
    prepare_model_for_kbit_training left with float32 norms and embeddings runs its attention in float32."""
    cuda = input_ids.is_cuda
    for _ in range(steps):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        del loss
        if cuda:
            torch.cuda.synchronize()
            per_step.append(
                {
                    "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
                    "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
                    "seconds": round(time.perf_counter() - started, 4),
                }
            )
