"""The measured grid: which (architecture, method, run) cells exist, and their ids."""

from __future__ import annotations

from archs import ARCHS, LORA_TARGETS

SHAPES = [(1, 512), (1, 2048), (4, 1024), (2, 4096)]  # (batch_size, seq_len)
SMALL = ["Qwen2.5-0.5B", "Qwen3-0.6B", "Llama-3.2-1B", "Qwen3-4B"]
LARGE = ["Mistral-7B-v0.3", "Llama-3.1-8B", "Qwen3-14B"]
PAGED = ("paged_adamw_8bit", "paged_adamw_32bit")


def cell(arch, method, bs, seq, gc, optimizer="adamw_torch", rank=16, dropout=0.0, num_gpus=1,
         sharding=None, fresh=False, autocast=False):
    lora = method != "full"
    c = {
        "arch": arch, "method": method, "optimizer": optimizer,
        "lora_rank": rank if lora else None, "lora_dropout": dropout if lora else None,
        "target_modules": list(LORA_TARGETS) if lora else None,
        "seq_len": seq, "batch_size": bs, "gradient_checkpointing": gc,
        "num_gpus": num_gpus, "sharding": sharding, "autocast": autocast,
    }
    parts = [arch, method, optimizer, f"r{rank}" if lora else "-", f"d{dropout}" if lora and dropout else "",
             f"b{bs}x{seq}", "gc" if gc else "nogc", f"{num_gpus}gpu-{sharding}" if sharding else "",
             "fresh" if fresh else "", "amp" if autocast else ""]
    c["cell"] = "/".join(p for p in parts if p)
    c["fresh_process"] = fresh or optimizer in PAGED  # bnb never frees paged (managed) buffers
    return c


def single_gpu_cells() -> list[dict]:
    out = []
    for arch in SMALL + LARGE:
        for method in ("qlora", "lora"):
            out += [cell(arch, method, b, s, gc) for b, s in SHAPES for gc in (True, False)]
    for arch in SMALL:
        out += [cell(arch, "full", b, s, gc) for b, s in SHAPES for gc in (True, False)]
    for arch in LARGE:
        out += [cell(arch, "full", b, s, True) for b, s in SHAPES[:2]]
        out.append(cell(arch, "full", 1, 512, True, optimizer="adamw_8bit"))
    # LoRA rank
    for arch in ("Qwen3-0.6B", "Llama-3.1-8B"):
        for method in ("qlora", "lora"):
            for rank in (64, 128):
                out.append(cell(arch, method, 1, 2048, True, rank=rank))
            out.append(cell(arch, method, 2, 4096, True, rank=128))
    # optimizers
    for arch, method in (("Llama-3.1-8B", "qlora"), ("Qwen3-4B", "lora"), ("Qwen3-0.6B", "full"),
                         ("Llama-3.2-1B", "full")):
        for opt in ("adamw_torch_fused", "adamw_8bit"):
            out.append(cell(arch, method, 1, 2048, True, optimizer=opt))
    for arch, method in (("Llama-3.1-8B", "qlora"), ("Qwen3-0.6B", "full")):
        for opt in PAGED:
            out.append(cell(arch, method, 1, 2048, True, optimizer=opt))
    out.append(cell("Qwen3-4B", "lora", 1, 2048, True, optimizer="paged_adamw_8bit"))
    # LoRA dropout (peft stores a dropped copy of each adapter input)
    out.append(cell("Llama-3.2-1B", "lora", 1, 2048, True, dropout=0.05))
    out.append(cell("Llama-3.2-1B", "lora", 1, 2048, False, dropout=0.05))
    out.append(cell("Llama-3.2-1B", "qlora", 1, 2048, False, dropout=0.05))
    # a cut-down MoE
    moe = "Qwen3-30B-A3B-6L"
    out += [cell(moe, "full", 1, 2048, True), cell(moe, "lora", 1, 2048, True),
            cell(moe, "lora", 1, 2048, False), cell(moe, "qlora", 1, 2048, True)]
    return out


def fresh_repeats() -> list[dict]:
    """In-process cells run again, each in its own process, to show reuse does not skew them."""
    picks = [("Qwen2.5-0.5B", "qlora", 1, 2048, True), ("Llama-3.2-1B", "full", 4, 1024, False),
             ("Qwen3-4B", "lora", 2, 4096, True), ("Llama-3.1-8B", "qlora", 2, 4096, False),
             ("Qwen3-14B", "qlora", 1, 2048, True), ("Mistral-7B-v0.3", "lora", 1, 512, False)]
    return [cell(a, m, b, s, gc, fresh=True) for a, m, b, s, gc in picks]


def fsdp_cells() -> list[dict]:
    out = []
    for arch in ("Llama-3.2-1B", "Llama-3.1-8B"):
        for method in ("full", "lora"):
            for b, s in ((1, 2048), (2, 4096)):
                out.append(cell(arch, method, b, s, True, num_gpus=2, sharding="fsdp"))
    out.append(cell("Qwen3-14B", "full", 1, 2048, True, num_gpus=2, sharding="fsdp"))
    return out


HOLDOUT = ("SmolLM2-1.7B", "Qwen2.5-7B", "gemma-3-1b")


def holdout_cells() -> list[dict]:
    """Architectures and shapes the estimator was never fitted on (8192 tokens is beyond the grid)."""
    out = []
    for arch in HOLDOUT:
        out += [cell(arch, "qlora", 1, 2048, True), cell(arch, "qlora", 1, 8192, True),
                cell(arch, "lora", 2, 4096, True), cell(arch, "lora", 1, 2048, False),
                cell(arch, "full", 1, 2048, True), cell(arch, "full", 1, 2048, True, optimizer="adamw_8bit")]
    return out


def autocast_cells() -> list[dict]:
    """The forward under bf16 autocast, as Trainer(bf16=True) trains (every other cell runs without it):
    QLoRA, where peft's float32 norms and embeddings otherwise keep attention in float32, and LoRA beside it."""
    out = []
    for arch in ("Llama-3.2-1B", "Qwen3-4B", "Llama-3.1-8B", "Qwen2.5-7B"):
        out += [cell(arch, "qlora", b, s, True, autocast=True) for b, s in ((1, 2048), (2, 4096), (1, 8192))]
    for arch in ("Qwen3-4B", "Llama-3.1-8B"):
        out += [cell(arch, "lora", b, s, True, autocast=True) for b, s in ((1, 2048), (2, 4096))]
    return out


def autocast_holdout_cells() -> list[dict]:
    """Held out for the autocast path (round 18 chose its checkpoint bytes on autocast_cells): other models (a
    sliding-window Gemma, a 14B, a small SmolLM2), a wider micro-batch and rank 64, predicted before measuring."""
    picks = [("Mistral-7B-v0.3", 1, 2048, 16), ("Mistral-7B-v0.3", 4, 1024, 16), ("Mistral-7B-v0.3", 2, 4096, 16),
             ("gemma-3-1b", 1, 2048, 16), ("gemma-3-1b", 1, 8192, 16), ("SmolLM2-1.7B", 1, 2048, 16),
             ("SmolLM2-1.7B", 2, 4096, 16), ("Qwen3-14B", 1, 2048, 16), ("Qwen3-14B", 1, 8192, 16),
             ("Qwen3-0.6B", 1, 2048, 64), ("Llama-3.1-8B", 2, 4096, 64)]
    return [cell(a, "qlora", b, s, True, rank=r, autocast=True) for a, b, s, r in picks]


UNSLOTH_ARCHS = ("Llama-3.2-1B", "Qwen3-4B", "Llama-3.1-8B")
UNSLOTH_SHAPES = ((1, 2048), (2, 4096), (1, 8192))


def unsloth_cells() -> list[dict]:
    """The first Unsloth cells (measured by a harness since replaced by unsloth_sft.py)."""
    out = []
    for arch in UNSLOTH_ARCHS:
        for method in ("qlora", "lora"):
            for b, s in UNSLOTH_SHAPES:
                c = cell(arch, method, b, s, True, optimizer="adamw_8bit")
                c.update(stack="unsloth", cell=f"{arch}/{method}/adamw_8bit/r16/b{b}x{s}/gc-unsloth")
                out.append(c)
    return out


def all_cells() -> list[dict]:
    cells = (single_gpu_cells() + fresh_repeats() + fsdp_cells() + holdout_cells() + autocast_cells()
             + autocast_holdout_cells())
    ids = [c["cell"] for c in cells]
    assert len(ids) == len(set(ids)), "duplicate cell ids"
    assert all(c["arch"] in ARCHS for c in cells)
    return cells


def group_key(c: dict) -> tuple:
    """Cells sharing a key reuse one built model in-process."""
    return (c["arch"], c["method"], c["lora_rank"], c["lora_dropout"])


def est_params_b(arch: str) -> float:
    f = ARCHS[arch]
    h, i, n = f["hidden_size"], f["intermediate_size"], f["num_hidden_layers"]
    hd = f.get("head_dim", h // f["num_attention_heads"])
    att = h * hd * (2 * f["num_attention_heads"] + 2 * f["num_key_value_heads"])
    mlp = 3 * h * (f.get("moe_intermediate_size") or i) * (f.get("num_experts") or 1)
    emb = f["vocab_size"] * h * (1 if f["tie_word_embeddings"] else 2)
    return (n * (att + mlp) + emb) / 1e9
