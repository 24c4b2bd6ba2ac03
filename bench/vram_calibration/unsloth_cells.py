"""Measure the `unsloth` stack: Unsloth's own loader, LoRA wrapper and offloaded checkpointing.

    python unsloth_cells.py prepare ARCH DIR      # random-init bf16 model + a stand-in tokenizer, saved to DIR
    python unsloth_cells.py run ARCH DIR METHOD OUT.jsonl [--deadline-s S]

`run` loads DIR with `FastLanguageModel.from_pretrained` (QLoRA: `load_in_4bit=True`, quantised
on load like a plain `-bnb-4bit` upload; LoRA: 16-bit), wraps it with `get_peft_model` (rank 16 on
all seven linear projections, `use_gradient_checkpointing="unsloth"`), and trains three steps per
shape (forward with labels through Unsloth's fused loss, backward, bitsandbytes AdamW8bit step)
with the same memory probes as run_cells.py. One process per (architecture, method); the model is
saved by a separate process so its memory never counts. Records share run_cells.py's keys, with
`stack: "unsloth"`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from archs import ARCHS, LORA_TARGETS  # noqa: E402
from grid import UNSLOTH_SHAPES as SHAPES  # noqa: E402
from memory import PeakSampler, ProcessMemory, cuda_stat, release  # noqa: E402

STEPS = 3


def prepare(arch: str, path: str) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from build import random_model

    model = random_model(ARCHS[arch], "cuda")
    model.config.torch_dtype = torch.bfloat16
    model.save_pretrained(path, safe_serialization=True)
    vocab_size = ARCHS[arch]["vocab_size"]
    # Unsloth refuses a pad token equal to eos: give each special token an id of its own.
    vocab = {f"t{i}": i for i in range(vocab_size - 3)} | {"<pad>": vocab_size - 3, "<s>": vocab_size - 2, "<unk>": vocab_size - 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<unk>",
                                   bos_token="<s>", model_max_length=ARCHS[arch]["max_position_embeddings"])
    fast.save_pretrained(path)
    print(f"[prepared] {arch} -> {path}", flush=True)


def run(arch: str, path: str, method: str, out: str, deadline: float | None) -> None:
    pm = ProcessMemory("cuda")  # NVML read before anything touches CUDA
    import unsloth  # noqa: F401  (must come before transformers)
    from unsloth import FastLanguageModel

    import bitsandbytes as bnb
    import torch

    pm.init_cuda()
    start = time.time()
    model, _ = FastLanguageModel.from_pretrained(
        model_name=path, max_seq_length=max(s for _, s in SHAPES), dtype=torch.bfloat16,
        load_in_4bit=method == "qlora", local_files_only=True,
    )
    model = FastLanguageModel.get_peft_model(
        model, r=16, lora_alpha=16, lora_dropout=0, bias="none", target_modules=list(LORA_TARGETS),
        use_gradient_checkpointing="unsloth", random_state=3407,
    )
    build_s = time.time() - start
    release()
    weights = cuda_stat("memory_allocated")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    versions = _versions(pm, unsloth.__version__)
    vocab = ARCHS[arch]["vocab_size"]
    for batch, seq in SHAPES:
        if deadline and time.time() > deadline:
            print(f"[skip] {arch} {method} {batch}x{seq} (deadline)", flush=True)
            continue
        cell = f"{arch}/{method}/adamw_8bit/r16/b{batch}x{seq}/gc-unsloth"
        rec = {"cell": cell, "arch": arch, "config": ARCHS[arch], "method": method, "stack": "unsloth",
               "optimizer": "adamw_8bit", "lora_rank": 16, "lora_dropout": 0.0, "target_modules": list(LORA_TARGETS),
               "seq_len": seq, "batch_size": batch, "gradient_checkpointing": True, "num_gpus": 1, "sharding": None,
               "steps": STEPS, "weights_bytes": weights, "trainable_params": trainable, "total_params": total,
               "cuda_context_bytes": pm.cuda_context_bytes, "fresh_process": False, "build_s": build_s, **versions}
        optimizer = bnb.optim.AdamW8bit([p for p in model.parameters() if p.requires_grad], lr=2e-4)
        release()
        t0 = time.time()
        try:
            model.train()
            with PeakSampler(pm.nvml) as sampler:
                for _ in range(STEPS):
                    ids = torch.randint(0, vocab - 1, (batch, seq), device="cuda")
                    loss = model(input_ids=ids, labels=ids).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                torch.cuda.synchronize()
            rec.update(status="ok", error=None, loss=float(loss.detach()))
            rec["nvml_peak_used_bytes"] = None if sampler.peak is None or pm.baseline is None else sampler.peak - pm.baseline
        except torch.OutOfMemoryError as exc:
            rec.update(status="oom", error=str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - a calibration run records every failure
            rec.update(status="error", error=f"{type(exc).__name__}: {exc}"[:500], traceback=traceback.format_exc()[-2000:])
        rec.update(peak_allocated_bytes=cuda_stat("max_memory_allocated"), peak_reserved_bytes=cuda_stat("max_memory_reserved"),
                   time_s=round(time.time() - t0, 2))
        del optimizer
        loss = None
        with open(out, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"[{rec['status']}] {cell} reserved={rec['peak_reserved_bytes'] / 2**30:.2f}GiB "
              f"nvml={(rec.get('nvml_peak_used_bytes') or 0) / 2**30:.2f}GiB {rec.get('error') or ''}", flush=True)


def _versions(pm: ProcessMemory, unsloth_version: str) -> dict:
    import importlib.metadata as md

    import torch

    def v(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    p = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {"gpu": p.name, "gpu_total_bytes": int(p.total_memory), "driver": pm.nvml.driver(), "cuda": torch.version.cuda,
            "torch": torch.__version__, "transformers": v("transformers"), "peft": v("peft"),
            "bitsandbytes": v("bitsandbytes"), "accelerate": v("accelerate"), "unsloth": unsloth_version,
            "unsloth_zoo": v("unsloth_zoo"), "trl": v("trl")}


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        dl = float(sys.argv[sys.argv.index("--deadline-s") + 1]) if "--deadline-s" in sys.argv else None
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], time.time() + dl if dl else None)
