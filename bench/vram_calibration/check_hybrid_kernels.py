"""CPU check that a tiny random hybrid model takes the fast kernels in training (no GPU needed to get there).

    PYTHONPATH=SITE:bench/vram_calibration/shims python bench/vram_calibration/check_hybrid_kernels.py

SITE holds `.whl-hybrid/*.whl` installed with `pip install --no-deps --target SITE` (add fla-core
0.5.1 there to see Qwen3.5's gated-delta path too: Unsloth vendors that release and injects it
itself on a GPU). For each model type, a tiny model of that type with random weights runs one
training-mode forward and backward on CPU while a profile hook records which functions of
mamba_ssm, causal_conv1d, causal_conv1d_cuda (the stand-in) and fla were entered. The Triton
kernels need a GPU, so the step is expected to stop inside them: the check passes when the
model's mixer got there (and, on a Mamba-2 model, through the stand-in's convolution first).
"""

from __future__ import annotations

import sys
import traceback

import hybrid_kernels

PACKAGES = ("mamba_ssm", "causal_conv1d", "causal_conv1d_cuda", "fla")
TINY = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "intermediate_size": 64,
}
CONFIGS = {
    "granitemoehybrid": dict(
        TINY,
        layer_types=["mamba", "attention"],
        mamba_n_heads=4,
        mamba_d_head=32,
        mamba_d_state=16,
        mamba_n_groups=1,
        mamba_expand=2,
        mamba_chunk_size=16,
        num_local_experts=4,
        num_experts_per_tok=2,
        shared_intermediate_size=64,
    ),
    "nemotron_h": dict(
        TINY,
        layers_block_type=["mamba", "attention"],
        mamba_num_heads=4,
        mamba_head_dim=32,
        n_groups=1,
        ssm_state_size=16,
        chunk_size=16,
        head_dim=16,
    ),
    "qwen3_5_text": dict(
        TINY,
        layer_types=["linear_attention", "full_attention"],
        head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_conv_kernel_dim=4,
    ),
}


def entered(model_type: str) -> tuple[list[str], str]:
    """Functions of PACKAGES entered during one training step, and how the step ended."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(model_type, **CONFIGS[model_type])
    cfg.use_cache = False  # as prepare() saves the models and as training runs
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).train()
    seen: list[str] = []

    def hook(frame, event, arg):
        name = frame.f_globals.get("__name__", "")
        if event == "call" and name.split(".")[0] in PACKAGES:
            label = f"{name}.{frame.f_code.co_name}"
            if label not in seen:
                seen.append(label)

    ids = torch.randint(0, 120, (1, 32))
    sys.setprofile(hook)
    try:
        model(input_ids=ids, labels=ids).loss.backward()
        ended = "step completed"
    except Exception as exc:  # noqa: BLE001 - the Triton kernels cannot run on CPU
        last = traceback.extract_tb(exc.__traceback__)[-1]
        ended = f"{type(exc).__name__} at {last.filename.split('site-packages/')[-1]}:{last.lineno}: {str(exc)[:150]}"
    finally:
        sys.setprofile(None)
    print(f"kernels of {model_type}:", hybrid_kernels.kernels_record(model)["resolved"])
    return seen, ended


def main() -> int:
    print("packages:", hybrid_kernels.packages())
    failures = 0
    for model_type in CONFIGS:
        seen, ended = entered(model_type)
        mamba = model_type != "qwen3_5_text"
        want = ["causal_conv1d_cuda.causal_conv1d_fwd"] + (
            ["mamba_ssm.ops.triton.ssd_combined.mamba_split_conv1d_scan_combined"]
            if mamba
            else []
        )
        ok = all(w in seen for w in want)
        failures += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {model_type}: {ended}")
        for label in seen[:12]:
            print("       entered", label)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
