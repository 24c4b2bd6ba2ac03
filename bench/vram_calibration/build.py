"""Build a random-initialised model for one method, the way transformers + peft would load it.

- `full`: bf16 parameters, all trainable.
- `lora`: bf16 base, peft LoRA adapters (fp32, peft's default `autocast_adapter_dtype=True`).
- `qlora`: every nn.Linear that transformers' bitsandbytes quantizer would convert becomes a
  bnb Linear4bit (NF4, double quantisation, bf16 compute), quantised from the bf16 weights on the
  GPU exactly as `from_pretrained(..., quantization_config=...)` does (same module swap, same
  `Params4bit(...).to(device)` call); then peft's `prepare_model_for_kbit_training` (casts the
  remaining bf16 parameters to fp32) and LoRA adapters.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

GC_KWARGS = {"use_reentrant": False}


def hf_config(fields: dict):
    from transformers import AutoConfig

    f = copy.deepcopy(fields)  # transformers writes into nested dicts it is given (unsloth_sft.hf_config)
    cfg = AutoConfig.for_model(f.pop("model_type"), **f)
    cfg.use_cache = False
    return cfg


def bnb_config():
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def random_model(fields: dict, device: str):
    """bf16 model with transformers' own random init, built directly on `device`."""
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            hf_config(fields), dtype=torch.bfloat16, attn_implementation="sdpa"
        )
    return model


def quantize_4bit(model, device: str):
    """Swap nn.Linear for bnb Linear4bit and quantise, as transformers' bnb quantizer does."""
    import bitsandbytes as bnb
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear
    from transformers.quantizers.base import get_keys_to_not_convert
    from transformers.quantizers.quantizers_utils import should_convert_module

    qcfg = bnb_config()
    skip = get_keys_to_not_convert(model)
    old = {
        name: (m.weight.data, m.bias)
        for name, m in model.named_modules()
        if type(m) is nn.Linear and should_convert_module(name, skip)
    }
    replace_with_bnb_linear(model, modules_to_not_convert=skip, quantization_config=qcfg)
    for name, (w, b) in old.items():
        mod = model.get_submodule(name)
        mod.weight = bnb.nn.Params4bit(w, requires_grad=False, **mod.weight.__dict__).to(w.device)
        if b is not None:
            mod.bias = nn.Parameter(b.data)  # trainable flag as from_pretrained leaves it
    old.clear()
    model.is_loaded_in_4bit = True
    model.config.quantization_config = qcfg
    return model, sorted(skip)


def set_gradient_checkpointing(base, on: bool) -> None:
    """Toggle checkpointing on the transformers model (input-grad hook follows, as in a fresh run)."""
    if on:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=GC_KWARGS)
    else:
        base.gradient_checkpointing_disable()
        if hasattr(base, "disable_input_require_grads"):
            base.disable_input_require_grads()


def lora_targets(model, wanted: list[str]) -> list[str]:
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    names |= {
        n.rsplit(".", 1)[-1]
        for n, m in model.named_modules()
        if type(m).__name__ == "Linear4bit"
    }
    return [t for t in wanted if t in names]


def build(fields: dict, method: str, gc_on: bool, rank: int | None, dropout: float,
          targets: list[str] | None, device: str) -> tuple[nn.Module, nn.Module, dict]:
    """Returns (trainable model, transformers base model, facts about the build)."""
    facts: dict = {"attn_implementation": "sdpa", "param_dtype": "bfloat16"}
    model = random_model(fields, device)
    if method == "full":
        model.train()
        if gc_on:
            set_gradient_checkpointing(model, True)
        return model, model, facts

    from peft import LoraConfig, get_peft_model

    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model, skipped = quantize_4bit(model, device)
        facts["not_quantized"] = skipped
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gc_on, gradient_checkpointing_kwargs=GC_KWARGS
        )
    elif gc_on:
        set_gradient_checkpointing(model, True)
    found = lora_targets(model, targets or [])
    facts["target_modules"] = found
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=rank, lora_alpha=rank, lora_dropout=dropout, target_modules=found,
            bias="none", task_type="CAUSAL_LM",
        ),
    )
    peft_model.train()
    return peft_model, peft_model.get_base_model(), facts


def param_facts(model: nn.Module) -> dict:
    """Parameter counts and bytes by dtype; 4-bit weights counted at their unpacked size."""
    total = trainable = 0
    by_dtype: dict[str, int] = {}
    quant_state_bytes = 0
    seen_q: set[int] = set()
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        qs = getattr(p, "quant_state", None)
        n = int(torch.Size(qs.shape).numel()) if qs is not None else p.numel()
        total += n
        if p.requires_grad:
            trainable += n
        key = "nf4" if qs is not None else str(p.dtype).removeprefix("torch.")
        by_dtype[key] = by_dtype.get(key, 0) + p.numel() * p.element_size()
        if qs is not None:
            tensors = [qs.absmax, qs.code]
            if getattr(qs, "state2", None) is not None:
                tensors += [qs.state2.absmax, qs.state2.code]
            if getattr(qs, "offset", None) is not None:
                tensors.append(qs.offset)
            for t in tensors:
                if t is not None and t.data_ptr() not in seen_q:
                    seen_q.add(t.data_ptr())
                    quant_state_bytes += t.numel() * t.element_size()
    return {
        "total_params": total,
        "trainable_params": trainable,
        "param_bytes_by_dtype": by_dtype,
        "quant_state_bytes": quant_state_bytes,
    }
