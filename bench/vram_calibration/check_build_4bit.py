"""Check `unsloth_sft.build_4bit` on CPU against transformers' own pre-quantised save (no GPU needed).

    PYTHONPATH=/tmp/bnbsite python check_build_4bit.py NAME [NAME ...]

For each configs/NAME.json, shrunk to 2 decoder layers (2 vision layers, a 1024-token vocabulary)
with every width kept, it writes two `-bnb-4bit` checkpoints on CPU: the meta-device build
(`build_4bit`), and the reference that `prepare --prequantize` makes (a bf16 model saved, reloaded
through `from_pretrained(quantization_config=bnb_config())`, saved again). It asserts that both
hold the same tensor names, dtypes and shapes and the same `quantization_config`, that the build
loads back through `from_pretrained` with nothing missing, unexpected or mismatched and the same
4-bit modules as the reference, and that a forward pass of the loaded build gives a finite loss.
Needs bitsandbytes (its CPU backend) and transformers; exits non-zero on the first mismatch.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from unsloth_sft import bnb_config, build_4bit, hf_config, load_config, model_class, text_fields  # noqa: E402

SHRUNK_VOCAB = 1024


def shrink(config: dict) -> dict:
    """Two decoder layers and two vision layers, a small vocabulary; every width as published."""
    config = copy.deepcopy(config)
    text = text_fields(config)
    text["num_hidden_layers"] = 2
    if isinstance(text.get("layer_types"), list):
        text["layer_types"] = text["layer_types"][-2:]
    for fields in (text, config):
        if "vocab_size" in fields or fields is text:
            fields["vocab_size"] = SHRUNK_VOCAB
        if isinstance(fields.get("pad_token_id"), int) and fields["pad_token_id"] >= SHRUNK_VOCAB:
            fields["pad_token_id"] = None  # phi-4's 100257 would not fit the small table
    vision = config.get("vision_config")
    if isinstance(vision, dict):
        for key in ("num_hidden_layers", "depth"):
            if key in vision:
                vision[key] = 2
    return config


def tensors(path: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    from safetensors import safe_open

    out = {}
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(path, name), "pt") as fh:
                for key in fh.keys():
                    t = fh.get_slice(key)
                    out[key] = (t.get_dtype(), tuple(t.get_shape()))
    return out


def state_fields(path: str, key: str) -> dict:
    """The packed quant state's JSON, less its float nested_offset: quant type, blocksizes, dtype, shape."""
    from safetensors import safe_open

    for name in os.listdir(path):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(path, name), "pt") as fh:
                if key in fh.keys():
                    fields = json.loads(bytes(fh.get_tensor(key).tolist()).decode())
                    fields.pop("nested_offset", None)
                    return fields
    raise KeyError(key)


def quant_config(path: str) -> dict:
    with open(os.path.join(path, "config.json")) as fh:
        return json.load(fh)["quantization_config"]


def reference(config: dict, path: str) -> None:
    """What `prepare --prequantize` writes, on CPU."""
    import torch

    cls = model_class(config)
    with torch.device("cpu"):
        model = cls._from_config(hf_config(config), dtype=torch.bfloat16)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.cache_implementation = None
    model.save_pretrained(path + "-bf16")
    q = cls.from_pretrained(path + "-bf16", quantization_config=bnb_config(), dtype=torch.bfloat16, device_map={"": "cpu"})
    q.save_pretrained(path)


def four_bit_modules(model) -> list[str]:
    import bitsandbytes as bnb

    return sorted(n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit))


def check(name: str, tmp: str) -> None:
    import torch

    config = shrink(load_config(name)["config"])
    ours, ref = os.path.join(tmp, name + "-built"), os.path.join(tmp, name + "-ref")
    n = build_4bit(config, ours, device="cpu")
    reference(config, ref)
    a, b = tensors(ours), tensors(ref)
    assert a.keys() == b.keys(), f"{name}: names differ: only built {sorted(a.keys() - b.keys())[:8]}, only ref {sorted(b.keys() - a.keys())[:8]}"
    # The packed quant-state entry is a JSON blob whose length follows the float nested_offset: compare its fields.
    diff = [k for k in a if a[k] != b[k] and ".quant_state." not in k]
    blobs = [k for k in a if ".quant_state." in k]
    assert blobs and all(state_fields(ours, k) == state_fields(ref, k) for k in blobs), f"{name}: quant-state fields differ"
    assert not diff, f"{name}: dtype/shape differ: {[(k, a[k], b[k]) for k in diff[:8]]}"
    assert quant_config(ours) == quant_config(ref), f"{name}: quantization_config {quant_config(ours)} != {quant_config(ref)}"
    cls = model_class(config)
    model, info = cls.from_pretrained(ours, device_map={"": "cpu"}, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    assert not bad, f"{name}: loading the build: {bad}"
    refmodel = cls.from_pretrained(ref, device_map={"": "cpu"})
    assert four_bit_modules(model) == four_bit_modules(refmodel), f"{name}: 4-bit modules differ"
    ids = torch.randint(0, SHRUNK_VOCAB - 3, (1, 16))
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss), f"{name}: loss {loss}"
    print(f"[ok] {name}: {len(a)} tensors as the reference, {len(four_bit_modules(model))} Linear4bit, "
          f"{n / 1e6:.0f}M params (shrunk), loss {loss.item():.2f}", flush=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for arg in sys.argv[1:]:
            check(arg, tmp)
