"""The VRAM estimator's empirical constants, each with where it comes from.

Everything else in the estimator is counted from the architecture and the run. These few numbers
are what counting cannot know: the CUDA context, allocator rounding and fragmentation, and how far
the per-tensor activation counts of `vram_activations` sit from what PyTorch really holds.
`bench/vram_accuracy/fit.py` refits the block between the FITTED markers from the measured cells
in `bench/vram_calibration/data/*.jsonl` and rewrites it; the benchmark README says how.
"""

from __future__ import annotations

from typing import Final

GIB: Final = 1024**3

# --- FITTED: begin (written by bench/vram_accuracy/fit.py; do not edit by hand) ---
FIT_SOURCE: Final = "fitted on 197 measured cells (gpu NVIDIA H100 80GB HBM3/NVIDIA H200, driver 580.159.04, cuda 13.0, torch 2.11.0+cu130, transformers 5.17.0, peft 0.21.0, bitsandbytes 0.50.2, accelerate 1.15.0)"
# Every value below except the unsloth entries comes from that data. Measured directly: the CUDA
# context (as it grows during training) is the median, over the one-GPU cells, of NVML's peak
# device-used minus the allocator's peak reserved; NCCL is the same median over the multi-GPU
# cells minus that context.
CUDA_CONTEXT_GIB: Final = 0.7567
NCCL_GIB: Final = 0.8132
# What the driver holds on the idle GPU (NVML device-used before the process touched CUDA, median
# of nvml_baseline_bytes); no process can allocate it, so a run fits when total + this <= the card.
DRIVER_RESERVED_GIB: Final = 0.6006
# Fitted (coordinate descent on the mean absolute relative error of total_gib, one-GPU cells):
# allocations counting cannot see (cuBLAS workspaces, RNG state, small buffers), GiB;
FIXED_ALLOCATED_GIB: Final = 0.1232
# allocator peak reserved / what the reserved model below gives, minus 1, one GPU; and under
# FSDP / ZeRO-3, fitted on the multi-GPU cells (gather and reduce buffers on their own streams);
FRAGMENTATION: Final = 0.0192
FRAGMENTATION_SHARDED: Final = 0.1523
# bytes per token per vocabulary entry the loss holds at its peak (first-principles count 12: the
# fp32 log-softmax output, its gradient and the input gradient) and the extra the allocator
# reserves for it (count 2: the bf16 logits block is not reused); unsloth assumed, not measured;
LOGITS_BYTES: Final = {"transformers": 11.7050, "unsloth": 4.0000}
LOGITS_RESERVED_EXTRA: Final = {"transformers": 1.9873, "unsloth": 0.0000}
# full fine-tuning: share of min(memory freed before the first optimizer step, optimizer states +
# gradients + temporaries) reserved twice, by gradient checkpointing on / off (fitted on full cells);
CROSS_PHASE: Final = {True: 0.3495, False: 0.1391}
# share of min(loss blocks, one recomputed layer's buffers) reserved twice under checkpointing;
CROSS_RECOMPUTE: Final = 0.3992
# score-sized buffers one layer's backward adds with the math or eager kernel (count: 3);
SCORE_WORK: Final = 2.2536
# multiplier on the counted saved activations, per method (the unsloth stack is not measured:
# its scales stay at 1, the counts of vram_activations).
ACTIVATION_SCALE: Final = {
    ("transformers", "qlora"): 0.9960,
    ("transformers", "lora"): 1.0374,
    ("transformers", "full"): 0.9501,
    ("unsloth", "qlora"): 1.0000,
    ("unsloth", "lora"): 1.0000,
    ("unsloth", "full"): 1.0000,
}
# --- FITTED: end ---

# --- UNSLOTH FITTED: begin (written by bench/vram_accuracy/fit_unsloth.py; do not edit by hand) ---
UNSLOTH_FIT_SOURCE: Final = "fitted on 394 measured Unsloth cells (NVIDIA H100 80GB HBM3, NVIDIA H200; unsloth 2026.10.9, transformers 5.17.0, trl 1.15.0, torch 2.11.0+cu130, bitsandbytes 0.50.2)"
# CUDA context and kernels as NVML sees them beside the allocator, measured (median of steady cells);
UNSLOTH_CONTEXT_GIB: Final = 0.8105
# ... and what some families add to it, measured (median of their cells, GiB): kernels loaded for them
# (Gemma's compiled softcapping), beyond the stack of spilling kernels (gated-delta-rule and Mamba-2:
# local_memory, counted per GPU);
UNSLOTH_CONTEXT_EXTRA_GIB: Final = {'gemma2': 0.18, 'gemma3_text': 0.11}
# allocations beside the weights, training state and activations (cuBLAS workspaces, the loss's bounded chunk);
UNSLOTH_FIXED_GIB: Final = 0.2603
# bytes a logit that one compiled chunk of Unsloth's fallback loss holds (unsloth_stack.chunk_loss_bytes);
UNSLOTH_CHUNK_LOSS_BYTES: Final = 2.4262
# multiplier on one decoder layer's counted activations per token (offloaded checkpointing keeps about
# one layer's recompute on the GPU), by kind of model and method (unsloth_stack.layer_kind);
UNSLOTH_LAYER_SCALE: Final = {'dense': 1.6424, 'moe': 2.7027, 'deltanet': 1.9438, 'full': 0.4624}
# bytes a MoE layer holds per token and element of its routed intermediate width beyond the count, in the recomputed
# layer (before the scale above) and in each layer a first-step trial keeps (unsloth_stack.routed_intermediate_bytes);
UNSLOTH_MOE_INTERMEDIATE_BYTES: Final = 0.9586
# bytes per token per unit of the widest dense MLP that the recomputed layer of a softcapped Gemma (2, 3n, 4)
# holds beyond the count, and of Gemma 3 (unsloth_stack.gemma_mlp_bytes);
UNSLOTH_SOFTCAP_MLP_BYTES: Final = 10.8802
UNSLOTH_GEMMA3_MLP_BYTES: Final = 1.9696
# share of one layer's routed experts (in 16-bit) held while a MoE layer runs, by method (full: lora's);
UNSLOTH_MOE_LAYER_SHARE: Final = {'qlora': 0.2365, 'lora': 0.0003}
# allocator reserve beyond what is allocated (expandable segments): share of the step's buffers, and GiB.
UNSLOTH_RESERVED_SHARE: Final = 0.269
UNSLOTH_RESERVED_GIB: Final = 0.2305
# ... and beside a MoE first step's trials that keep part of each layer (unsloth_stack.router_path_bytes), as a share.
UNSLOTH_TRIAL_RESERVED_SHARE: Final = 0.2448
# ... and, under full fine-tuning, as a share of the weights' gradients;
UNSLOTH_FULL_GRAD_RESERVED_SHARE: Final = 0.173
# measured cells per model_type and method: the families the Unsloth figures stand on, and how (a MoE's first
# step can keep a different share of each layer by method: ground.method_said).
UNSLOTH_MEASURED_METHODS: Final = {'apertus': {'lora': 1, 'qlora': 3}, 'cohere': {'qlora': 2}, 'cohere2': {'lora': 2, 'qlora': 3}, 'deepseek_v3': {'lora': 1, 'qlora': 5}, 'ernie4_5': {'lora': 4, 'qlora': 2}, 'ernie4_5_moe': {'lora': 2, 'qlora': 3}, 'falcon_h1': {'lora': 2, 'qlora': 4}, 'gemma': {'lora': 2, 'qlora': 3}, 'gemma2': {'lora': 3, 'qlora': 11}, 'gemma3_text': {'lora': 6, 'qlora': 9}, 'gemma3n_text': {'lora': 3, 'qlora': 6}, 'gemma4_text': {'lora': 8, 'qlora': 29}, 'gemma4_unified_text': {'lora': 1, 'qlora': 6}, 'glm4_moe_lite': {'lora': 3, 'qlora': 6}, 'gpt_oss': {'lora': 3, 'qlora': 9}, 'granite': {'lora': 1, 'qlora': 2}, 'granitemoehybrid': {'lora': 8, 'qlora': 9}, 'lfm2': {'lora': 4, 'qlora': 2}, 'lfm2_moe': {'lora': 2, 'qlora': 2}, 'llama': {'full': 6, 'lora': 18, 'qlora': 41}, 'llama4_text': {'lora': 2, 'qlora': 7}, 'ministral3': {'lora': 2, 'qlora': 3}, 'mistral': {'full': 1, 'lora': 4, 'qlora': 5}, 'mixtral': {'lora': 4, 'qlora': 8}, 'mllama_text_model': {'lora': 2, 'qlora': 3}, 'nemotron_h': {'lora': 3, 'qlora': 2}, 'olmo2': {'lora': 2, 'qlora': 2}, 'olmo3': {'lora': 2, 'qlora': 6}, 'paddleocr_vl': {'lora': 2, 'qlora': 1}, 'phi3': {'lora': 3, 'qlora': 6}, 'qwen2': {'full': 1, 'lora': 4, 'qlora': 4}, 'qwen2_5_vl_text': {'lora': 2, 'qlora': 3}, 'qwen2_vl': {'lora': 1, 'qlora': 2}, 'qwen3': {'full': 5, 'lora': 5, 'qlora': 10}, 'qwen3_5_moe_text': {'lora': 3, 'qlora': 3}, 'qwen3_5_text': {'lora': 13}, 'qwen3_moe': {'lora': 3, 'qlora': 17}, 'qwen3_vl_text': {'lora': 2, 'qlora': 3}, 'smollm3': {'lora': 2, 'qlora': 4}}
# ... and of them, the cells of MoE models (what an unmeasured MoE family carries over; the rest, a dense one's).
UNSLOTH_MEASURED_MOE: Final = {'deepseek_v3': 6, 'ernie4_5_moe': 5, 'gemma4_text': 13, 'glm4_moe_lite': 9, 'gpt_oss': 12, 'granitemoehybrid': 17, 'lfm2_moe': 4, 'llama4_text': 9, 'mixtral': 12, 'nemotron_h': 5, 'qwen3_5_moe_text': 6, 'qwen3_moe': 20}
# ... and the most tokens a step held in them, per model_type, kind and method (beyond it: ground.longest_measured).
UNSLOTH_LONGEST_TOKENS: Final = {'apertus': {'dense': {'lora': 2048, 'qlora': 16384}}, 'cohere': {'dense': {'qlora': 8192}}, 'cohere2': {'dense': {'lora': 8192, 'qlora': 8192}}, 'deepseek_v3': {'moe': {'lora': 2048, 'qlora': 16384}}, 'ernie4_5': {'dense': {'lora': 32768, 'qlora': 8192}}, 'ernie4_5_moe': {'moe': {'lora': 8192, 'qlora': 8192}}, 'falcon_h1': {'dense': {'lora': 8192, 'qlora': 16384}}, 'gemma': {'dense': {'lora': 8192, 'qlora': 8192}}, 'gemma2': {'dense': {'lora': 8192, 'qlora': 16384}}, 'gemma3_text': {'dense': {'lora': 8192, 'qlora': 32768}}, 'gemma3n_text': {'dense': {'lora': 8192, 'qlora': 16384}}, 'gemma4_text': {'dense': {'lora': 16384, 'qlora': 65536}, 'moe': {'lora': 16384, 'qlora': 24576}}, 'gemma4_unified_text': {'dense': {'lora': 4096, 'qlora': 98304}}, 'glm4_moe_lite': {'moe': {'lora': 16384, 'qlora': 32768}}, 'gpt_oss': {'moe': {'lora': 16384, 'qlora': 32768}}, 'granite': {'dense': {'lora': 2048, 'qlora': 8192}}, 'granitemoehybrid': {'moe': {'lora': 16384, 'qlora': 32768}}, 'lfm2': {'dense': {'lora': 32768, 'qlora': 8192}}, 'lfm2_moe': {'moe': {'lora': 8192, 'qlora': 8192}}, 'llama': {'dense': {'full': 8192, 'lora': 16384, 'qlora': 78475}}, 'llama4_text': {'moe': {'lora': 8192, 'qlora': 32768}}, 'ministral3': {'dense': {'lora': 16384, 'qlora': 8192}}, 'mistral': {'dense': {'full': 2048, 'lora': 16384, 'qlora': 8192}}, 'mixtral': {'moe': {'lora': 16384, 'qlora': 16384}}, 'mllama_text_model': {'dense': {'lora': 8192, 'qlora': 8192}}, 'nemotron_h': {'moe': {'lora': 8192, 'qlora': 8192}}, 'olmo2': {'dense': {'lora': 4096, 'qlora': 4096}}, 'olmo3': {'dense': {'lora': 8192, 'qlora': 16384}}, 'paddleocr_vl': {'dense': {'lora': 8192, 'qlora': 2048}}, 'phi3': {'dense': {'lora': 8192, 'qlora': 16384}}, 'qwen2': {'dense': {'full': 4096, 'lora': 8192, 'qlora': 16384}}, 'qwen2_5_vl_text': {'dense': {'lora': 8192, 'qlora': 16384}}, 'qwen2_vl': {'dense': {'lora': 2048, 'qlora': 8192}}, 'qwen3': {'dense': {'full': 16384, 'lora': 32768, 'qlora': 16384}}, 'qwen3_5_moe_text': {'moe': {'lora': 8192, 'qlora': 16384}}, 'qwen3_5_text': {'dense': {'lora': 98304}}, 'qwen3_moe': {'moe': {'lora': 8192, 'qlora': 32768}}, 'qwen3_vl_text': {'dense': {'lora': 8192, 'qlora': 8192}}, 'smollm3': {'dense': {'lora': 8192, 'qlora': 32768}}}
# ... and beyond it, bytes a token by which our runs' peaks outgrew the estimate over each family's last measured
# stretch, per model_type, kind and method (fit_unsloth.tail_growth; added by ground.tail_growth).
UNSLOTH_TAIL_GROWTH: Final = {'apertus': {'dense': {'qlora': 0.0}}, 'cohere': {'dense': {'qlora': 0.0}}, 'cohere2': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'deepseek_v3': {'moe': {'qlora': 0.0}}, 'ernie4_5': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'ernie4_5_moe': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'falcon_h1': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'gemma': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'gemma2': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'gemma3_text': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'gemma3n_text': {'dense': {'lora': 0.0, 'qlora': 127122.8}}, 'gemma4_text': {'dense': {'lora': 0.0, 'qlora': 0.0}, 'moe': {'lora': 124237.8, 'qlora': 0.0}}, 'gemma4_unified_text': {'dense': {'qlora': 42826.2}}, 'glm4_moe_lite': {'moe': {'lora': 0.0, 'qlora': 81135.6}}, 'gpt_oss': {'moe': {'lora': 87644.2, 'qlora': 0.0}}, 'granite': {'dense': {'qlora': 0.0}}, 'granitemoehybrid': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'lfm2': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'lfm2_moe': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'llama': {'dense': {'full': 0.0, 'lora': 0.0, 'qlora': 0.0}}, 'llama4_text': {'moe': {'lora': 0.0, 'qlora': 200988.7}}, 'ministral3': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'mistral': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'mixtral': {'moe': {'lora': 0.0, 'qlora': 132127.7}}, 'mllama_text_model': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'nemotron_h': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'olmo2': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'olmo3': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'paddleocr_vl': {'dense': {'lora': 0.0}}, 'phi3': {'dense': {'lora': 0.0, 'qlora': 84787.2}}, 'qwen2': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'qwen2_5_vl_text': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'qwen2_vl': {'dense': {'qlora': 0.0}}, 'qwen3': {'dense': {'full': 0.0, 'lora': 0.0, 'qlora': 0.0}}, 'qwen3_5_moe_text': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'qwen3_5_text': {'dense': {'lora': 81954.8}}, 'qwen3_moe': {'moe': {'lora': 0.0, 'qlora': 0.0}}, 'qwen3_vl_text': {'dense': {'lora': 0.0, 'qlora': 0.0}}, 'smollm3': {'dense': {'lora': 0.0, 'qlora': 0.0}}}
# ... and where a model's residual, measured over a wide span, bends upward: its quadratic, [bytes a token, bytes a
# token squared] (fit_unsloth.tail_bend), continued beyond the longest step where it adds more (ground.tail_growth).
UNSLOTH_TAIL_BEND: Final = {'gemma4_unified_text': {'dense': {'qlora': [-52840.3, 0.7459]}}, 'qwen3_5_text': {'dense': {'lora': [-23560.9, 0.4296]}}}
# --- UNSLOTH FITTED: end ---
