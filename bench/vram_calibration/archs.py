"""Architectures the calibration grid measures, as Hugging Face config fields.

Values are the models' config.json fields as the catalog records them (finetune_advisor/catalog:
each entry carries its sources; all of these are marked `verified`). Only fields that change the memory of a
training step are given; everything else keeps the transformers default for the model
type (rope details, dropout, norms' eps), which does not change memory.
"""

from __future__ import annotations

ARCHS: dict[str, dict] = {
    # tied embeddings, qwen2 configs carry no head_dim (hidden/heads = 64), q/k/v have biases
    "Qwen2.5-0.5B": dict(
        model_type="qwen2", num_hidden_layers=24, hidden_size=896, intermediate_size=4864,
        num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
        tie_word_embeddings=True, max_position_embeddings=32768,
    ),
    # explicit head_dim 128 != 1024/16 = 64, tied embeddings
    "Qwen3-0.6B": dict(
        model_type="qwen3", num_hidden_layers=28, hidden_size=1024, intermediate_size=3072,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, vocab_size=151936,
        tie_word_embeddings=True, max_position_embeddings=40960,
    ),
    # tied embeddings, 128k vocabulary
    "Llama-3.2-1B": dict(
        model_type="llama", num_hidden_layers=16, hidden_size=2048, intermediate_size=8192,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, vocab_size=128256,
        tie_word_embeddings=True, max_position_embeddings=131072,
    ),
    # explicit head_dim 128 != 2560/32 = 80, tied embeddings
    "Qwen3-4B": dict(
        model_type="qwen3", num_hidden_layers=36, hidden_size=2560, intermediate_size=9728,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=151936,
        tie_word_embeddings=True, max_position_embeddings=40960,
    ),
    # small 32k vocabulary: logits are a small share
    "Mistral-7B-v0.3": dict(
        model_type="mistral", num_hidden_layers=32, hidden_size=4096, intermediate_size=14336,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=32768,
        tie_word_embeddings=False, max_position_embeddings=32768,
    ),
    "Llama-3.1-8B": dict(
        model_type="llama", num_hidden_layers=32, hidden_size=4096, intermediate_size=14336,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, vocab_size=128256,
        tie_word_embeddings=False, max_position_embeddings=131072,
    ),
    "Qwen3-14B": dict(
        model_type="qwen3", num_hidden_layers=40, hidden_size=5120, intermediate_size=17408,
        num_attention_heads=40, num_key_value_heads=8, head_dim=128, vocab_size=151936,
        tie_word_embeddings=False, max_position_embeddings=40960,
    ),
    # Held out: never used to fit the estimator's constants; predictions are committed before the run
    # (bench/vram_accuracy/holdout.py). Values from models.json (all `verified` there).
    # Full multi-head attention (32 KV heads), small 49k vocabulary, tied embeddings.
    "SmolLM2-1.7B": dict(
        model_type="llama", num_hidden_layers=24, hidden_size=2048, intermediate_size=8192,
        num_attention_heads=32, num_key_value_heads=32, head_dim=64, vocab_size=49152,
        tie_word_embeddings=True, max_position_embeddings=8192,
    ),
    # q/k/v biases, 7:1 GQA, wide MLP (18944), 152k vocabulary, untied.
    "Qwen2.5-7B": dict(
        model_type="qwen2", num_hidden_layers=28, hidden_size=3584, intermediate_size=18944,
        num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
        tie_word_embeddings=False, max_position_embeddings=32768,
    ),
    # 262k vocabulary (logits dominate), head_dim 256 with 4 heads / 1 KV head, sliding window 512.
    "gemma-3-1b": dict(
        model_type="gemma3_text", num_hidden_layers=26, hidden_size=1152, intermediate_size=6912,
        num_attention_heads=4, num_key_value_heads=1, head_dim=256, vocab_size=262144,
        tie_word_embeddings=True, max_position_embeddings=32768, sliding_window=512,
    ),
    # Qwen3-30B-A3B cut from 48 to 6 layers (everything else as released): a cheap MoE cell.
    # transformers 5 stores each layer's experts as 3-D parameters, not nn.Linear, so LoRA on
    # the usual module names reaches attention only and bitsandbytes cannot quantise experts.
    "Qwen3-30B-A3B-6L": dict(
        model_type="qwen3_moe", num_hidden_layers=6, hidden_size=2048, intermediate_size=6144,
        moe_intermediate_size=768, num_experts=128, num_experts_per_tok=8,
        num_attention_heads=32, num_key_value_heads=4, head_dim=128, vocab_size=151936,
        tie_word_embeddings=False, max_position_embeddings=40960,
    ),
}

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

