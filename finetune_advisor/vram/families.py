"""What a model family changes about fine-tuning memory, written once per family.

Unsloth loads some families in float32 on GPUs without bf16 (T4, V100), because their activations
overflow fp16: its loader's FORCE_FLOAT32 list (unsloth/models/loader.py and unsloth_zoo's
model_lists.py, Unsloth 2026.10.9: gemma3, gemma3n, gemma4, glm4_moe, gpt_oss, qwen3_5, qwen3_moe).
"""

from __future__ import annotations

FORCE_FLOAT32_PREFIXES = ("gemma3", "gemma4", "glm4moe", "gptoss", "qwen35", "qwen3moe")


def forced_float32(model_type: str) -> bool:
    """True for the families Unsloth loads in float32 when the GPU has no bf16 (model_type or family name)."""
    return model_type.replace("_", "").replace("-", "").replace(".", "").lower().startswith(FORCE_FLOAT32_PREFIXES)
