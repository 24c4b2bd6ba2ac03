"""The fixed calls of the golden snapshot: what the tools answer must not move by accident.

Each case is (tool, arguments). `cases()` lists hand-picked calls across the tools (errors
included) and then `estimate_vram` for every catalog entry x qlora/lora/full x both stacks. The
snapshot is recorded through the MCP server in process, so it holds exactly what a client sees,
whatever the modules behind the tools are called.
"""

from __future__ import annotations

import json
from typing import Any

Case = tuple[str, dict[str, Any]]

RECOMMEND: list[dict[str, Any]] = [
    {"task": "chat"},
    {"task": "chat", "gpu_memory_gib": 24},
    {"task": "chat", "gpu_memory_gib": 8, "dataset_rows": 200},
    {"task": "chat", "gpu_memory_gib": 80, "dataset_rows": 5000, "top_k": 10},
    {"task": "code", "gpu_memory_gib": 24, "dataset_rows": 800},
    {"task": "code", "gpu_memory_gib": 16, "method": "lora"},
    {"task": "vision", "gpu_memory_gib": 16, "eu_entity": True, "monthly_active_users": 2_000_000},
    {"task": "reasoning", "gpu_memory_gib": 48, "seq_len": 8192},
    {"task": "tts", "gpu_memory_gib": 12},
    {"task": "stt", "gpu_memory_gib": 12},
    {"task": "chat", "gpu_memory_gib": 24, "use_case": "German customer support, function calling", "allowed_licenses": ["apache-2.0", "mit"]},
    {"task": "chat", "gpu_memory_gib": 24, "commercial_use": False},
    {"task": "chat", "gpu_memory_gib": 40, "max_params_b": 4, "languages": ["fr", "Japanese"]},
    {"task": "chat", "gpu_memory_gib": 2, "seq_len": 32768},
    {"task": "chat", "gpu_memory_gib": 160, "method": "full", "dataset_rows": 20000},
    {"task": "chat", "gpu_memory_gib": 24, "monthly_active_users": 900_000_000},
    {"task": "chat", "gpu_memory_gib": 24, "allowed_licenses": ["no-such-licence"]},
    {"task": "poetry"},
    {"task": "chat", "gpu": "T4"},
    {"task": "code", "gpu": "RTX 4090", "dataset_rows": 3000},
]

ESTIMATE: list[dict[str, Any]] = [
    {"model": "qwen3-8b"},
    {"model": "qwen3-8b", "gpu_memory_gib": 24},
    {"model": "unsloth/Llama-3.1-8B-Instruct-unsloth-bnb-4bit", "method": "qlora", "seq_len": 8192, "batch_size": 2},
    {"model": "meta-llama/Llama-3.1-70B", "method": "lora", "num_gpus": 4, "sharding": "fsdp", "stack": "transformers"},
    {"model": "meta-llama/Llama-3.1-70B", "method": "full", "num_gpus": 8, "sharding": "zero3", "stack": "transformers"},
    {"model": "llama-3.1-8b", "method": "full", "num_gpus": 2, "sharding": "ddp", "full_fp32_master": True, "optimizer": "adamw_torch"},
    {"model": "gemma-3-4b", "method": "lora", "gpu_memory_gib": 15, "bf16": False},
    {"model": "qwen3-30b-a3b", "method": "qlora", "gpu_memory_gib": 24},
    {"model": "gpt-oss-20b", "method": "qlora", "gpu_memory_gib": 15, "bf16": False},
    {"model": "gemma-4-e4b", "method": "qlora", "gpu_memory_gib": 15, "bf16": False},
    {"model": "mistral-7b-v0.3", "lora_rank": 128, "target_modules": ["q_proj", "v_proj"], "gradient_checkpointing": False},
    {"model": "qwen2.5-7b", "optimizer": "paged_adamw_8bit", "stack": "transformers", "seq_len": 16384},
    {"model": "phi-4", "optimizer": "adamw_torch_fused", "method": "lora", "stack": "transformers"},
    {"architecture": {"model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "intermediate_size": 8192,
                      "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True}},
    {"architecture": {"text_config": {"model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048,
                                      "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936,
                                      "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768}}},
    {"params_b": 13, "method": "qlora"},
    {"params_b": 70, "method": "full", "num_gpus": 8, "sharding": "fsdp"},
    {"model": "no-such-model-xyz"},
    {"architecture": {"model_type": "llama"}},
    {"model": "qwen3-8b", "seq_len": 0},
    {"model": "llama-3.1-8b", "gpu": "T4"},
    {"model": "llama-3.1-70b", "method": "full", "gpu": "4xA100-80GB", "sharding": "fsdp", "stack": "transformers"},
    {"model": "qwen3-8b", "gpu": "A100"},
]

PLAN: list[dict[str, Any]] = [
    {"model": "llama-3.1-8b", "gpu": "RTX 4090", "dataset_rows": 20000, "tokens_per_row": 400},
    {"model": "llama-3.1-8b", "gpu": "T4", "method": "qlora", "dataset_rows": 50000, "tokens_per_row": 350, "price_per_hour": 0.35},
    {"model": "qwen3-8b", "gpu": "H100", "dataset_rows": 10000, "tokens_per_row": 1200, "epochs": 3, "search_rank": True},
    {"model": "qwen3-30b-a3b", "gpu": "RTX 4090", "dataset_rows": 10000, "tokens_per_row": 800},
    {"model": "llama-3.1-70b", "gpu": "2xH100", "method": "qlora", "dataset_rows": 10000, "tokens_per_row": 800},
    {"model": "gemma-3-4b", "gpu_memory_gib": 16, "seq_len": 8192, "batch_size": 1},
    {"model": "qwen3-8b", "gpu": "T4", "dataset_rows": 10},
    {"model": "gemma-4-e4b", "gpu": "H100", "method": "qlora", "dataset_rows": 2000, "tokens_per_row": 30000,
     "seq_len": 32768},
]

LICENSE: list[dict[str, Any]] = [
    {"model": "qwen2.5-3b"},
    {"model": "qwen2.5-3b", "commercial_use": False},
    {"model": "unsloth/Llama-3.2-11B-Vision-Instruct", "eu_entity": True},
    {"model": "deepseek-r1-distill-llama-8b", "distribute_weights": True},
    {"license_id": "llama3.1", "monthly_active_users": 800_000_000},
    {"license_id": "llama3", "train_other_models_on_outputs": True},
    {"model": "gemma-3-4b", "distribute_weights": True, "train_other_models_on_outputs": True},
    {"model": "gpt-oss-20b"},
    {"model": "mistral-small-2409"},
    {"model": "qwen2.5-72b", "monthly_active_users": 150_000_000},
    {"model": "nemotron-3-nano-30b-a3b", "distribute_weights": True},
    {"model": "llama-4-scout-17b-16e", "eu_entity": True},
    {"license_id": "cc-by-nc-4.0"},
    {"model": "some-org/not-in-catalog"},
    {},
]

DOCS: list[dict[str, Any]] = [
    {"question": "What LoRA rank and learning rate should I start with?"},
    {"question": "Should I use a base or an instruct model?"},
    {"question": "How much VRAM do I need for Llama 3.1 8B?"},
    {"question": "How do I export to GGUF?"},
    {"question": "Which chat template for Qwen 2.5?", "page": "basics/chat-templates"},
    {"question": "基础模型还是指令模型？", "language": "zh"},
    {"question": "How do I do GRPO?"},
    {"question": "How do I export my model to ONNX?"},
    {"question": "如何微调视觉模型？", "language": "zh"},
    {"question": "x", "page": "https://evil.example/"},
]


def sweep_models() -> list[str]:
    """Every catalog id, read from the packaged catalog file (not through the code under test)."""
    from importlib.resources import files

    data = json.loads(files("finetune_advisor.catalog").joinpath("catalog.json").read_text(encoding="utf-8"))
    return [entry["id"] for entry in data["models"]]


def cases() -> list[Case]:
    listed: list[Case] = [("recommend_model", a) for a in RECOMMEND]
    listed += [("estimate_vram", a) for a in ESTIMATE]
    listed += [("plan_training", a) for a in PLAN]
    listed += [("check_license", a) for a in LICENSE]
    listed += [("query_docs", a) for a in DOCS]
    listed.append(("detect_gpus", {}))
    for model in sweep_models():
        for stack in ("unsloth", "transformers"):
            for method in ("qlora", "lora", "full"):
                listed.append(("estimate_vram", {"model": model, "method": method, "stack": stack, "gpu_memory_gib": 24}))
    return listed


def key(tool: str, arguments: dict[str, Any]) -> str:
    return tool + " " + json.dumps(arguments, sort_keys=True, ensure_ascii=False)
