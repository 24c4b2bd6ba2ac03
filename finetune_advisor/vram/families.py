"""What a model family changes about fine-tuning memory, written once per family.

Unsloth loads some families in float32 on GPUs without bf16 (T4, V100), because their activations
overflow fp16: its loader's FORCE_FLOAT32 list (unsloth/models/loader.py and unsloth_zoo's
model_lists.py, Unsloth 2026.10.9: gemma3, gemma3n, gemma4, glm4_moe, gpt_oss, qwen3_5, qwen3_moe).
The list decides for a model outside the catalog; a catalog family carries the same advice as sourced
data (families.toml `float32_without_bf16`), and `catalog check` holds the two in agreement.
"""

from __future__ import annotations

import math


# The suffixes a multimodal model's text config adds to its family's model_type (Qwen2.5-VL's qwen2_5_vl_text,
# Gemma 4's gemma4_text, Llama 3.2 Vision's mllama_text_model): a catalog entry names the family without them.
TEXT_CONFIG_SUFFIXES = ("_text_model", "_text")


def family_of(model_type: str) -> str:
    """The family a model_type belongs to, without the suffix of a multimodal model's text config."""
    for suffix in TEXT_CONFIG_SUFFIXES:
        if model_type.endswith(suffix):
            return model_type.removesuffix(suffix)
    return model_type


FORCE_FLOAT32_PREFIXES = ("gemma3", "gemma4", "glm4moe", "gptoss", "qwen35", "qwen3moe")


def forced_float32(model_type: str) -> bool:
    """True for the model types Unsloth loads in float32 when the GPU has no bf16."""
    return model_type.replace("_", "").replace("-", "").replace(".", "").lower().startswith(FORCE_FLOAT32_PREFIXES)


# The first training step of a fresh Unsloth process can hold every MoE layer's activations at once. Unsloth
# 2026.10.9 compiles each decoder layer as one region (unsloth/models/_block_compile.py) and, the first time a layer
# runs under no_grad (the forward of its offloaded checkpointing), runs it once more with gradients as a trial and
# drops the output. trl 1.15's SFTTrainer turns the router's auxiliary loss on when the config class has
# output_router_logits and a non-zero router_aux_loss_coef (trl/trainer/sft_trainer.py); transformers then records
# every router's logits, and Unsloth splices the trial's records into the real ones (unsloth_zoo temporary_patches/
# misc.py output_capture_scratch). The aux loss holds them, and with them each trial's compiled graph and all it
# saved for backward, until the first backward frees them. What that keeps is the count of what one layer saves
# (activations.token_bytes) for every token of the step in every MoE layer, plus the aux loss's one-hot of the
# routing (int64 and its float copy, 12 bytes per token, chosen expert and expert); it is visible where it exceeds
# the LoRA gradients and optimizer states, which do not exist yet during that step. Measured on Qwen3-30B-A3B
# (bench/vram_calibration/data/unsloth_sft_1gpu.jsonl; first steps against later ones): LoRA r32 at 4 x 2,048 tokens
# 38.0 GB more in the first step (counted 37.4), LoRA r16 at 2,048 about 7 (7.4), QLoRA r16 at 2,048 8.2 (7.4), QLoRA
# at 512 none (the states hide it); held out (round 20), QLoRA at 8,192 tokens 63.0 GiB in a fresh process (counted
# 64.2) and 24.9 with SFTConfig(router_aux_loss_coef=0.0) (RunConfig.router_aux_loss False; 25.8 counted without the
# trials): the aux loss is what keeps them. With the aux loss on and UNSLOTH_BLOCK_COMPILE=0 (no per-layer compile,
# so no trial), 25.3 GiB (round 21; run.BLOCK_COMPILE_OFF). Gated DeltaNet layers keep more in their trial than the
# count of an attention layer (unsloth_stack.deltanet_saved_bytes; Qwen3.5-35B-A3B, round 21).
#
# Config classes that define output_router_logits, with their router_aux_loss_coef default (transformers 5.17.0,
# models/<type>/configuration_<type>.py): a config.json's own router_aux_loss_coef overrides it, 0 turns it off.
# Nemotron-H, Gemma 4, GLM-4.5 MoE (and glm4_moe_lite) and DeepSeek-V3 define neither (measured, first in their process:
# Nemotron-3-Nano LoRA 1x2048 held no first-step excess, round 7; GLM-4.7-Flash QLoRA none either, 1x2048 in round 20
# and 1x8192 in round 26).
ROUTER_AUX_LOSS_DEFAULT: dict[str, float] = {
    "qwen3_moe": 0.001, "qwen3_5_moe": 0.001, "qwen3_next": 0.001, "qwen2_moe": 0.001, "qwen3_omni_moe": 0.001,
    "granitemoehybrid": 0.001, "granitemoe": 0.001, "granitemoeshared": 0.001, "mixtral": 0.001, "phimoe": 0.001,
    "ernie4_5_moe": 0.001, "minimax": 0.001, "minimax_m2": 0.001, "jamba": 0.001, "olmoe": 0.01,
    "flex_olmo": 0.01, "gpt_oss": 0.001,
}
# Not Llama 4: its config class defines both (0.001), and trl turns the aux loss on, but transformers 5.17's
# modeling_llama4.py records its routers' logits without computing a load-balancing loss from them, so nothing keeps
# the trial (measured: Llama 4 Scout cut to 8 layers, QLoRA, first steps of fresh processes at 2,048 and 4,096 tokens
# allocated 0.5 and 0.15 GiB more than later steps, where the trial's count is 1.7 and 3.9; round 61).
# Decoder layers Unsloth's per-layer compile leaves alone (_block_compile.py _SKIP): no trial, so no excess
# (measured: gpt-oss-20b QLoRA 1x2048, 16.67 GiB in a fresh process, 16.69 as the second shape of one, round 5).
BLOCK_COMPILE_SKIPPED: dict[str, str] = {"gpt_oss": "GptOssDecoderLayer"}


# Unsloth's loss route (unsloth and unsloth_zoo 2026.10.9 with transformers 5.17, read in the wheels; round 54b's
# trace is to confirm it). FastLanguageModel loads these families with classes of its own (unsloth/models/loader.py),
# whose forward hands the loss only named settings, so it takes the fused-linear chunked loss: one float32 buffer of a
# few hundred rows x vocabulary, which the fixed term holds.
UNSLOTH_OWN_FORWARD = ("llama", "mistral", "gemma", "gemma2", "qwen2", "qwen3")
# Every other family loads through FastModel, where unsloth_zoo rewrites each *ForCausalLM forward whose loss has the
# stock shape (fused_losses/forward_install.py) to pass its keyword arguments on to the loss. Not these: the rewrite
# leaves Cohere's logit_scale, Granite's logits_scaling and the Gemmas' ForCausalLM alone (run over transformers 5.17's
# sources), and a multimodal checkpoint loads as *ForConditionalGeneration, which the rewrite skips
# (forward_install._is_eligible_class takes only *ForCausalLM): unsloth_zoo's compiler rewrites that forward's loss
# with named settings only (compiler.py's cross_entropy replacements), the fused-linear loss. Checked by running
# apply_fused_lm_head over transformers 5.17's Qwen3_5ForConditionalGeneration, Qwen2VL, Gemma3 and PaddleOCR-VL
# forwards: each calls unsloth_fused_ce_loss without **kwargs. So Qwen3.5, a family of multimodal checkpoints whose
# text-only ForCausalLM is rewritten, takes the chunked loss only as a text-only model.
UNSLOTH_FORWARD_KEPT = ("cohere", "cohere2", "gemma3", "gemma3n", "gemma4", "gemma4_unified", "granite", "granite_swa",
                        "granitemoehybrid", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "mistral3", "ministral3", "mllama",
                        "paddleocr_vl")
# In a rewritten forward, padding-free batching's packed_seq_lengths reaches the loss, which the fused-linear loss
# does not take (fused_losses/cross_entropy_loss.py, _use_chunked_ce), so it falls back to UnslothFusedLoss: compiled
# chunks sized to a budget of half the free memory, at most 4 GiB, at 16 bytes a logit (one chunk of 2,048 x 128,256
# logits for SmolLM3 at 2,048 tokens; 8,192 tokens: four of 2,048). What a chunk holds is fitted
# (constants.UNSLOTH_CHUNK_LOSS_BYTES a logit). It explains the first cells of SmolLM3 (-15 %, -13 %) and ERNIE 4.5 0.3B
# (-17 %, -19 %), small models whose layers hold less than the chunk, which came in under; Llama 3.2 1B, with
# SmolLM3's width and vocabulary on its own forward, did not.
UNSLOTH_CHUNK_BUDGET_GIB = 4.0  # the cap; a card with less than 8 GiB free sizes smaller chunks (RunConfig.loss_budget_gib)
UNSLOTH_CHUNK_BYTES_COUNTED = 16.0  # a logit, in the sizing (_CE_BYTES_PER_LOGIT)


# One multimodal family computes its loss outside its language model: Llama4ForConditionalGeneration.forward
# (transformers 5.17 modeling_llama4.py) calls its inner Llama4ForCausalLM without labels and runs its loss_function
# over the logits it gets back. The inner forward (rewritten by unsloth_zoo's hook) sees no labels, so it returns the
# whole tokens x vocabulary logits in 16 bits; accelerate's mixed-precision wrapper converts the model's outputs to
# float32 (operations.convert_to_fp32, through Unsloth's patched recursively_apply); Unsloth's fast_cross_entropy_loss
# then runs over that copy. Traced (round 61c, Llama 4 Scout cut to 8 layers, QLoRA at 8,192 tokens, vocabulary
# 202,048): the step's peak held 3.31 GB of 16-bit logits and 6.62 GB of their float32 copy, 6 bytes a logit, and
# little else; its layers' recompute comes after the logits are freed. Loaded text-only (Llama4ForCausalLM), the hook's
# rewrite would take the chunked loss instead (not measured).
UNSLOTH_LOSS_OVER_LOGITS = ("llama4",)
UNSLOTH_FULL_LOGITS_BYTES = 2.0 + 4.0  # a logit: the inner forward's 16-bit logits and accelerate's float32 copy
# The allocator reserved far beyond that peak, by the method: QLoRA 4.10, 9.16 and 18.17 GiB beyond the allocated
# peak of a fresh step at 4,096, 8,192 and 16,384 tokens (rounds 61c, 61d, 62; 2 x 4,096 padding-free reserved what
# 1 x 8,192 did, 9.10), about 0.9-1.0 of what the logits hold; 16-bit LoRA 1.56 and 6.14 at 2,048 and 8,192 (rounds
# 61, 62), about 0.66. The shared share (k.UNSLOTH_RESERVED_SHARE) covers part of it. Sized, not fitted: what leaves
# no measured cell under once the shared share is counted (QLoRA's 16,384-token cell sets 0.8: 0.6, sized on 8,192
# tokens, put it 6.0 % under; LoRA's 8,192 sets 0.4). Full fine-tuning is not measured: it takes the larger.
UNSLOTH_FULL_LOGITS_RESERVED = {"qlora": 0.8, "lora": 0.4}  # of the bytes the whole logits hold


def full_logits_reserved(method: str) -> float:
    """What the allocator reserves beyond the whole logits' bytes for METHOD (UNSLOTH_FULL_LOGITS_RESERVED); the
    largest measured share for a method not measured."""
    return UNSLOTH_FULL_LOGITS_RESERVED.get(method, max(UNSLOTH_FULL_LOGITS_RESERVED.values()))


def full_logits_on_unsloth(model_type: str, multimodal: bool) -> bool:
    """Whether Unsloth's loss for this family runs over the whole logits (UNSLOTH_LOSS_OVER_LOGITS, loaded with its
    images as *ForConditionalGeneration)."""
    return multimodal and family_of(model_type) in UNSLOTH_LOSS_OVER_LOGITS


def chunked_loss_on_unsloth(model_type: str, padded: bool, multimodal: bool = False) -> bool:
    """Whether Unsloth's loss for this decoder-only family falls back to compiled chunks (UnslothFusedLoss): a family
    loaded through FastModel whose forward unsloth_zoo rewrites, batched padding-free (`padded`: Unsloth pads this
    family instead). A multimodal checkpoint (`multimodal`) and an encoder-decoder (Whisper) load as
    *ForConditionalGeneration: not this path."""
    family = family_of(model_type)
    return not (padded or multimodal) and family not in (*UNSLOTH_OWN_FORWARD, *UNSLOTH_FORWARD_KEPT)


def loss_chunk_rows(tokens: int, vocab: int, budget_gib: float | None = None) -> int:
    """Rows of logits in one compiled chunk (unsloth_zoo get_chunk_size): every token where their 16 bytes a logit fit
    the budget (`budget_gib`: half the GPU's free memory, None or more than the cap: the cap), else the tokens split
    into a multiple of 4 chunks."""
    budget = UNSLOTH_CHUNK_BUDGET_GIB if budget_gib is None else min(budget_gib, UNSLOTH_CHUNK_BUDGET_GIB)
    exact = tokens * vocab * UNSLOTH_CHUNK_BYTES_COUNTED / (max(budget, 1e-3) * 2**30)
    if exact <= 1.0:
        return tokens
    chunks = min(math.ceil(exact / 4) * 4, tokens)
    return math.ceil(tokens / chunks)


# Inside those compiled chunks, Inductor pads a vocabulary that is not a multiple of 8 (torch_compile_options'
# shape_padding; pad_mm copies the operand): two zero-padded 16-bit copies of lm_head's weight, forward and backward.
# OLMo 3's 100,278 entries: a memory trace of its step (round 50, the 7B QLoRA at 2,048 tokens) held 2 x 100,280 x
# 4,096 x 2 bytes in two buffers of one compiled graph (and the padded 16-bit logit gradients, 2,048 x 100,280 x 2, a
# chunk's); its untraced peaks at 512 to 16,384 tokens came within 2.2 % of the count with them (round 47-50).
PADDED_VOCAB_MULTIPLE = 8


def padded_head_copies_bytes(vocab: int, hidden: int) -> float:
    """The two padded 16-bit copies of lm_head's weight the chunked loss holds when the vocabulary is unaligned, else
    0 (for a family that takes the chunked loss: chunked_loss_on_unsloth)."""
    if vocab % PADDED_VOCAB_MULTIPLE == 0:
        return 0.0
    return 2 * 2.0 * math.ceil(vocab / PADDED_VOCAB_MULTIPLE) * PADDED_VOCAB_MULTIPLE * hidden


# Families measured above the count in ways no trace has explained yet: GiB added to the reserve, sized from the
# family's own cells rather than let one family move the constants every family shares. What each was measured at (NVML peak against the estimate before the extra):
# - LFM2.5-1.2B (round 48; Unsloth's padded path, as without causal-conv1d's kernel): LoRA 1 x 2,048 reserved 0.38
#   GiB beyond its allocation and allocated 0.15 more than counted, 1 x 8,192 reserved 0.65 (the count's share: 0.28
#   and 0.44), QLoRA alike; 2 x 700 and 1 x 32,768 came within 1 %. Up to 0.17 GiB was missing; counted as 0.2.
# SmolLM3 3B, ERNIE 4.5 0.3B and Apertus 8B had extras here after their first cells (round 53: -15/-13 %, -17/-19 %,
# +3/-8 % at 2,048/8,192 tokens), until Unsloth's loss route explained them (chunked_loss_on_unsloth above): on an
# 80 GB card SmolLM3's 2,048-token step holds one chunk of 2,048 x 128,256 logits beside a layer that holds less.
# Apertus's 8,192-token step reserved 0.78 GiB beyond its share, which the chunk now covers (a per-token extra before,
# for transformers' Python xIELU); its 16,384-token cell (round 54, predicted with that extra) will tell which it is.
UNSLOTH_RESERVE_EXTRA: dict[str, float] = {"lfm2": 0.2}


def reserve_extra_on_unsloth(model_type: str) -> float:
    """GiB this family was measured holding beyond the count (UNSLOTH_RESERVE_EXTRA), or 0."""
    return UNSLOTH_RESERVE_EXTRA.get(family_of(model_type), 0.0)


# What a run on rows of varied length was measured holding beyond the fixed-length figure, for the families where it
# was far beyond (bench/vram_calibration CALIB_VARY cells: the micro-batches change shape every step, the longest is
# the cell's shape). LFM2.5-1.2B LoRA, 2 rows of up to 2,048 tokens, 60 steps (round 51, H100; Unsloth's padded path,
# which it takes for LFM2 when causal-conv1d's kernel is not installed): the allocator's reservation rose in steps of
# about 1 GiB each time a step's allocated peak set a new high (steps 4, 8, 32, 58 and 60), to 8.04 GiB reserved and
# 8.88 at NVML, against 4.29 predicted for 2 x 2,048 (its fixed-length 1 x 2,048 and 1 x 8,192 cells came within 6 %);
# the allocated peak itself rose 0.5 GiB over the run, to 3.38 GiB. Still rising at the last step. The same run with
# the allocator capped at 4 GiB (round 52, `--emulate 4g`: about 0.5 GiB above what the fixed-length step needs) ran
# all 60 steps: reserved at most 3.71 GiB, 4.54 at NVML (5.8 % above the 4.29 predicted for 2 x 2,048), allocated at
# most 2.86 (Unsloth sizes its loss chunks from the free memory, so a small card's allocated peak is lower too). The
# allocator gives its cache back before it raises out-of-memory: the large card's growth is cache, not need. Llama
# 3.2 3B QLoRA, measured the same way, reserved 5 % more than its fixed-length twin.
UNSLOTH_VARIED_ROWS: dict[str, str] = {
    "lfm2": ("LFM2 on rows of varied length: in our run (LFM2.5-1.2B LoRA, 2 rows of up to 2,048 tokens, 60 steps, "
             "Unsloth's padded path, which it takes without causal-conv1d installed) the memory reserved grew by about "
             "1 GiB whenever a step set a new high, to 8.9 GiB as nvidia-smi shows it, against 4.3 counted for 2 x "
             "2,048. That growth is cache, not need: with the allocator capped at 4 GiB, the same 60 steps ran to the "
             "end at 4.5 GiB as nvidia-smi shows it (3.7 reserved). Expect nvidia-smi to climb on a large card, and "
             "leave about 6 % more than this estimate free on a card it only just fits; with causal-conv1d installed, "
             "Unsloth packs LFM2's rows instead (not measured)."),
}


def varied_rows_note(model_type: str) -> str | None:
    """What rows of varied length were measured to add for this family (UNSLOTH_VARIED_ROWS), where it was large."""
    return UNSLOTH_VARIED_ROWS.get(family_of(model_type))


# Families whose cell was tried on a path that did not complete, with what the try showed a user. Falcon-H1 3B QLoRA
# at 2,048 tokens (round 53b, H100, Unsloth 2026.10.9, logs round53b-call1-lane0.txt): Unsloth's per-layer compile
# failed twice (Inductor could not generate the Mamba-2 scan's cumsum) and kept the stock forward; without mamba_ssm
# and causal-conv1d, transformers ran Mamba-2's reference PyTorch path. The first step took 125 s, and the lane's time
# ran out before the second ended, so no peak was recorded. With both packages (round 56h) the cells completed and are
# measured (unsloth_sft_1gpu.jsonl).
UNSLOTH_TRIED: dict[str, str] = {
    "falcon_h1": ("Falcon-H1 on Unsloth 2026.10.9 is measured with the mamba_ssm and causal-conv1d packages installed "
                  "(Mamba-2's Triton kernels). Without them Unsloth could not compile its layers and Mamba-2 ran its "
                  "reference PyTorch path: our 3B's first QLoRA step at 2,048 tokens took 125 s on an H100, and no "
                  "peak was recorded. Install both packages before a run."),
}


def tried_note(model_type: str) -> str | None:
    """What a tried, unfinished run of this family showed (UNSLOTH_TRIED), or None."""
    return UNSLOTH_TRIED.get(family_of(model_type))


# What a family's steps were measured taking beyond the step-time model, said in a plan's time notes (plan.timing)
# from a micro-batch of the given tokens on; "{step}" is the plan's own micro-batch time. Either cause lies in
# transformers' fallbacks, so either stack meets it. Falcon-H1 (UNSLOTH_TRIED above; round 53b's log): the first step
# took 125.5 s and the second had not ended when the run reached its time limit (167 s with loading); with the kernels
# (round 56h, H100, alone on the GPU) 146.9 s for the first step, then 0.58 s (2,048 tokens) and 0.98 s (8,192). Apertus 8B
# QLoRA (round 53, H100, alone during its steps): 0.35 s a step at 2,048 tokens, as modelled (0.38), and 1.40 s at
# 8,192 against 0.89 predicted: transformers runs its xIELU activation in Python when the xielu package, which fuses
# it, is absent (it logs "CUDA-fused xIELU not available"), a chain of elementwise passes over the 21,504-wide MLP the
# model does not count.
MEASURED_STEP_NOTES: dict[str, tuple[int, str]] = {
    "falcon_h1": (0, "Falcon-H1 needs the mamba_ssm and causal-conv1d packages: with them our 3B's QLoRA micro-batch "
                     "took 0.58 s at 2,048 tokens and 0.98 s at 8,192 on an H100 (the step-time model gives 0.68 and "
                     "1.07 s for an H200), after a first step of 147 s while Triton tuned Mamba-2's kernels. Without "
                     "them Mamba-2 runs its reference PyTorch path: our one run without them took 125 s for its first "
                     "step and had not finished the second when it was stopped, where this plan times a micro-batch at "
                     "{step:.2f} s (a step is that times the accumulation)."),
    "apertus": (4096, "Apertus without the xielu package (Unsloth's install does not bring it): transformers runs its "
                      "xIELU activation in Python. Our 8B QLoRA micro-batch of 8,192 tokens took 1.40 s on an H100, "
                      "1.6 times the 0.89 s the step-time model gives it (at 2,048 tokens it took what the model "
                      "gives). This plan's time for a micro-batch, {step:.2f} s (a step is that times the "
                      "accumulation), leaves that out: expect up to 1.6 times as long, or install xielu (not "
                      "measured)."),
}


def step_note(model_type: str, micro_tokens: int, step_s: float) -> str | None:
    """What this family's steps were measured taking beyond the step-time model (MEASURED_STEP_NOTES), for a
    micro-batch of `micro_tokens` the plan times at `step_s`, or None."""
    from_tokens, note = MEASURED_STEP_NOTES.get(family_of(model_type), (0, ""))
    return note.format(step=step_s) if note and micro_tokens >= from_tokens else None


def block_compile_skipped(model_type: str) -> bool:
    """True for the families whose decoder layers Unsloth's per-block compile leaves uncompiled (gpt-oss), whatever
    the user sets: their steps run as measured, which the step-time model times apart (plan.throughput.step_scale)."""
    return family_of(model_type) in BLOCK_COMPILE_SKIPPED


# What the measurements of a family say about that count, where they were made (fresh process against later steps).
ROUTER_TRIAL_MEASURED: dict[str, str] = {
    "qwen3_moe": "Qwen3-30B-A3B held 38 GB more at 4 x 2,048 tokens and about 8 at 2,048, within 1 GiB of the count; "
                 "its fresh QLoRA 1x8192 peak, predicted before it was measured, was 1.9 % high",
    "qwen3_5_moe": "Qwen3.5-35B-A3B held 7.5 GiB more at 2,048 tokens (QLoRA) and 40.0 at 8,192 (LoRA), 1.6-1.9 more "
                   "than the count with its Gated DeltaNet layers' kernel-saved tensors; its fresh peaks come within "
                   "1.1 % with them, and the two predicted before they were measured 0.4 % and 0.2 % high (QLoRA at "
                   "8,192, LoRA at 2,048 on a user's kernels)",
    "mixtral": "Mixtral cut to 8 layers held 7.1 GiB more at 4,096 tokens (QLoRA) and 12.4 at 8,192 (LoRA), 1.4-1.8 "
               "more than the count; its peaks were predicted 1-3 % low before they were measured",
    "granitemoehybrid": "granite-4.0-h-tiny QLoRA held 1.4, 3.6 and 8.2 GiB more at 2,048, 4,096 and 8,192 tokens "
                        "(r16, on mamba_ssm's kernels): only what leads to its routers' logits, counted as such here "
                        "(its fresh peaks within 2 %, and 2.9 % low on the held-out 2 x 4,096); its 16-bit LoRA at "
                        "4,096 held 9.7: the whole layers with their Mamba-2 kernels' saved tensors, attention's in its "
                        "attention layers only, and no aux-loss one-hot at the peak, as a memory trace of that step "
                        "showed, with half its LoRA gradients, which grow with the rank (its seven measured 16-bit LoRA "
                        "peaks, ranks 16 to 128, 0.7 to 1.6 % below this count)",
    "ernie4_5_moe": "ERNIE 4.5 21B-A3B held 6.1 GiB more in its first step at 2,048 tokens (QLoRA; counted 4.5) and 6.4 "
                    "in 16-bit LoRA, where the states hide part of it; its fresh QLoRA peak, predicted before it was "
                    "measured, was 4.3 % low, its LoRA peak 0.6 % low (round 47)",
}
ROUTER_AUX_OFF_MEASURED = ("measured on Qwen3-30B-A3B QLoRA at 8,192 tokens: 63.0 GiB in a fresh process, 24.9 with the "
                           "aux loss off")
# Bytes per token, chosen expert and expert of the aux loss's one-hot (int64) and its float32 copy.
AUX_ONE_HOT_BYTES = 8 + 4
# Of the LoRA gradients, the share a first step whose trial peaks late in the backward holds beyond a later step's
# count (unsloth_stack.router_trial, `late`), read from how the peak grows with the rank: granite-4.0-h-tiny LoRA at
# 4,096 tokens, fresh, peaked at 27.05, 30.29 and 34.75 GiB at ranks 16, 64 and 128 (rounds 24, 83, 84). Beyond the
# added adapters its first step allocated 0.62 and 0.60 of the added gradients' bytes (0.5 of them at NVML, the
# count's LoRA activations beside them). Read first from rank 64 alone as 0.4 and held out at rank 128 (-0.7 %).
# Where in the backward these peaks fall was not traced.
LATE_TRIAL_GRADS_HELD = 0.5


def router_trial_kept(model_type: str, aux_loss_coef: float | None) -> bool:
    """Whether the first step of a fresh Unsloth process keeps every MoE layer's trial forward (see above);
    aux_loss_coef: the config's router_aux_loss_coef, None where it gives none."""
    family = family_of(model_type)
    if block_compile_skipped(family) or family not in ROUTER_AUX_LOSS_DEFAULT:
        return False
    return (ROUTER_AUX_LOSS_DEFAULT[family] if aux_loss_coef is None else aux_loss_coef) > 0


# Families whose 3-D expert stacks Unsloth 2026.10.9's own MoE code does not claim: its separated expert-LoRA kernels
# and its 4-bit expert packer take gate_up_proj / down_proj (or w1 / w2) layouts only (unsloth_zoo moe_utils.py
# `_is_moe_experts_module`, "Unclaimed stacks (NemotronH up_proj / down_proj)"; moe_utils_bnb4bit.py), and
# bitsandbytes replaces nn.Linear only. Read from the code of Unsloth 2026.10.9, unsloth_zoo, peft 0.21 and
# transformers 5.17 for the twelve MoE model types the catalog holds: only Nemotron-H's stacks are unclaimed. Two things
# follow. LoRA on them goes through peft's target_parameters, which folds it into the whole stack (W + s.B.A, one new
# 16-bit tensor the size of the stack; peft tuners/lora/layer.py `_LoraFactorsProxy`, torch.baddbmm) at every MoE
# call, and the backward of the recomputed layer holds both folded stacks and the full-size weight gradient of one:
# FOLDED_EXPERT_STACKS stacks (2-4 by the order things are freed, not traced on a GPU). Nemotron-3-Nano 16-bit LoRA
# peaked 4.3 % and 3.4 % above the estimate at 2,048 and 4 x 2,048 tokens (rounds 7-8) while the count held one
# layer's experts at the share fitted on families Unsloth's kernels serve. And QLoRA leaves the stacks 16-bit (not
# measured): the same fold runs there too.
UNCLAIMED_EXPERT_STACKS: dict[str, str] = {"nemotron_h": "up_proj / down_proj"}
FOLDED_EXPERT_STACKS = 3


# MoE families whose checkpoints already store each layer's experts as 3-D tensors, so transformers 5.17 reads them
# as they are: its conversion_mapping.py merges per-expert tensors on load (MergeModulelist) for the Mixtral and
# Qwen2-MoE patterns (DeepSeek-V3, Qwen3-MoE, GLM-4.5/4.7, ERNIE 4.5 MoE, ...), Phi-MoE, LFM2-MoE, Nemotron-H and
# Jamba, and only renames these (Granite MoE's input_linear / output_linear) or has nothing for them. Measured loads
# beyond the weights and the CUDA context, in one layer's experts in 16 bits: 16-bit LoRA 0.01-0.30 (gpt-oss-20b,
# Gemma 4 26B-A4B, Granite 4.0-H, Qwen3.5-35B-A3B, Llama 4 Scout's cut copy), quantised on load 0.03-0.93, from a
# pre-quantised save 0.51 (gpt-oss-20b); merged families 0.58-1.26 in 16 bits, 1.2-3.2 quantised on load.
EXPERTS_STORED_FUSED = ("gpt_oss", "llama4", "gemma4", "granitemoe", "granitemoeshared", "granitemoehybrid",
                        "qwen3_5_moe", "qwen3_vl_moe")
# A pre-quantised upload of a merging family stores one NF4 tensor an expert and projection, which unsloth_zoo
# 2026.10.9 stacks while loading (PR 856). Measured at the load beyond the weights as counted (stacked, with their
# float32 scales) and the CUDA context, as a share of the stacked experts' bytes (QLoRA from -bnb-4bit saves laid out as
# Unsloth's uploads, fresh processes): Qwen3-30B-A3B 0.69 and 0.72 (rounds 62b and 63; 10.5-10.9 GiB), Mixtral cut to 8
# layers 0.51 (62b), GLM-4.7-Flash 0.34 and ERNIE 4.5 21B-A3B 0.34 (64; 5.0 and 3.6 GiB). Quantising on load held 2.59
# and 5.08 GiB beyond the weights for Qwen3 and Mixtral. The share follows neither the layer count nor the experts'
# bytes a layer (Qwen3 and GLM stack 0.32 GiB a layer over 48 and 46 layers); it may follow the experts a layer (128,
# 64, 64, 8) through how the allocator reuses the per-expert tensors' blocks. For Qwen3 the cause is measured (round
# 69): transformers' loading threads run ahead of the stacking, and the per-expert pieces fill the allocator's small
# pool; with them off its load held the weights alone (unsloth_stack.UNTHREADED_NOTE), as GLM's did (round 70: 0.16 GiB
# beyond the weights and the context, where threaded it held 3.3; a drop that size rules out the large pool's holes,
# where GLM keeps its per-expert pieces). So each measured family takes its own, rounded up, and any other the
# largest. The load set the process's peak once (Qwen3-30B-A3B with the aux loss off, 28.33 GiB, counted 28.25
# before); GLM-4.7-Flash's, counted at 0.7, read its peak 17.6 % high.
PREQUANTISED_EXPERT_LOAD_SHARES: dict[str, float] = {"qwen3_moe": 0.72, "mixtral": 0.52, "glm4_moe_lite": 0.35,
                                                     "ernie4_5_moe": 0.35}
PREQUANTISED_EXPERT_LOAD_SHARE = max(PREQUANTISED_EXPERT_LOAD_SHARES.values())


def prequantised_load_share(model_type: str) -> float:
    """The share of its stacked 4-bit experts a pre-quantised MoE load holds beyond the weights: the family's own where
    measured, else the largest measured (PREQUANTISED_EXPERT_LOAD_SHARES)."""
    return PREQUANTISED_EXPERT_LOAD_SHARES.get(family_of(model_type), PREQUANTISED_EXPERT_LOAD_SHARE)


def experts_stored_fused(model_type: str) -> bool:
    """Whether this family's checkpoints store each layer's experts fused, so loading merges nothing (see above);
    False for families not listed, whose load is counted as merging."""
    return family_of(model_type) in EXPERTS_STORED_FUSED


def unclaimed_expert_stacks(model_type: str) -> str | None:
    """The expert stacks' layout where Unsloth's MoE code leaves them to peft and bitsandbytes (see above)."""
    return UNCLAIMED_EXPERT_STACKS.get(family_of(model_type))


# Families whose routed experts an older Unsloth left 16-bit under QLoRA (bitsandbytes quantises nn.Linear only,
# and transformers 5 keeps fused experts as 3-D parameters). The calibrated version quantises them: Gemma 4
# 26B-A4B, QLoRA r16 1x2048, peaked at 22.4 GiB with Unsloth 2026.10.9 (bench/vram_calibration/holdout/
# measured-unsloth-round4.jsonl). Unsloth 2026.4.4 with transformers 5.5 reserved 46.4 GB right after a
# load_in_4bit=True load on an A100 80GB (github unslothai/notebooks@bdda2ef nb/Gemma4_(26B_A4B)-Text.ipynb).
EXPERTS_16BIT_IN_OLDER_UNSLOTH: dict[str, str] = {
    "gemma4": "Unsloth 2026.4.4 with transformers 5.5 (its Gemma 4 26B-A4B notebook: 46.4 GB reserved right after loading)",
}


def experts_16bit_in_older_unsloth(model_type: str) -> str | None:
    """The older version that left this family's experts 16-bit, with its evidence; model_type as the config
    gives it (gemma4, or gemma4_text for the language model of a multimodal one)."""
    return EXPERTS_16BIT_IN_OLDER_UNSLOTH.get(family_of(model_type))


# Mamba-2 mixer projections Unsloth 2026.10.9 keeps out of bitsandbytes under QLoRA, by the input site of the
# linear (shapes._mamba). Its skip list holds "mamba" (unsloth_zoo/peft_utils.py SKIP_QUANTIZATION_MODULES),
# which every module under Granite 4.0-H's and Falcon-H1's `mamba` mixers matches; Nemotron-H's mixer is named
# `mixer`, and only its out_proj is skipped (unsloth/models/vision.py _architecture_skip_modules). Measured on
# granite-4.0-h-tiny QLoRA (round 6): 1.37 GB of bf16 parameters after loading, the embedding and the 36 mixers'
# in_proj and out_proj (0.53B parameters) to within the norms and convolutions.
UNSLOTH_16BIT_MAMBA_SITES: dict[str, tuple[str, ...]] = {
    "granitemoehybrid": ("mamba_in", "mamba_out"),
    "falcon_h1": ("mamba_in", "mamba_out"),
    "nemotron_h": ("mamba_out",),
}


# Hybrid families by the kernels their non-attention layers run, keyed by the input site of the mixer's
# projection (shapes._mamba, shapes._deltanet, shapes._short_conv): mamba_ssm's Triton scan, the chunked gated delta
# rule of the fla copy Unsloth vendors, or causal-conv1d's short convolution (LFM2, dense and MoE). What a measured
# family's kernels add beside the allocator is carried by an unmeasured family that runs the same ones, and an
# answer says which of its layer kinds a measured family holds (ground).
LINEAR_MIXER_FAMILIES: dict[str, tuple[str, ...]] = {
    "mamba_in": ("granitemoehybrid", "falcon_h1", "nemotron_h"),
    "deltanet_in": ("qwen3_5", "qwen3_5_moe", "qwen3_next"),
    "conv_in": ("lfm2", "lfm2_moe"),
}


# Vision towers whose linear layers Unsloth 2026.10.9 quantises under QLoRA, with their weights in those layers
# (the text config does not describe a tower: the estimator sees it only as the parameters beyond the text model's).
# Llama 3.2 Vision: bitsandbytes quantises every nn.Linear outside Unsloth's skip list, which names the
# multi_modal_projector and lm_head but not the vision_model. Its tower (vision_config of
# meta-llama/Llama-3.2-11B-Vision-Instruct, bench/vram_calibration/configs): 32 + 8 global layers of hidden 1280,
# MLP 5120: 40 x (4 x 1280^2 + 2 x 1280 x 5120) = 786.4M weights. Measured (round 9, QLoRA r16): 6.96 GiB after
# get_peft_model, 1.05 GiB under the 8.01 counting the tower 16-bit; 786.4M weights at 16 - 4.1 bits is 1.08 GiB.
# Llama 4 (round 61, Llama 4 Scout cut to 8 layers, QLoRA quantised on load): 9,232,797,952 bytes of packed 4-bit
# weights, so 18,465,595,904 weights quantised, of which the 8 text layers' linears (fused experts, shared expert,
# attention) are 17,616,076,800 by its config; the rest, 849,519,104, is its vision tower's (34 layers of hidden 1408,
# MLP 5632: 808,845,312 in attention and MLP, plus the patch embedding's linear and the pixel-shuffle adapter's MLP):
# unsloth_zoo's SKIP_QUANTIZATION_MODULES (peft_utils.py) names the router and multi_modal_projector, not vision_model.
# Towers not listed stay 16-bit, as measured on Qwen2.5-VL, Gemma 3 and Gemma 4 (their weights came within 1 %).
QUANTISED_VISION_LINEARS: dict[str, float] = {"mllama": 786_432_000, "llama4": 849_519_104}


def quantised_vision_linears(model_type: str) -> float:
    """Weights in the vision tower's linear layers that Unsloth's QLoRA load quantises (0 when it keeps them 16-bit)."""
    return QUANTISED_VISION_LINEARS.get(family_of(model_type), 0.0)


# What the parameters beyond the text config are, where a family's answer must say it differently from a vision tower
# whose image tokens sit in the sequence (Qwen2.5-VL, Gemma 3, Pixtral): csm's are audio parts (depth decoder, Mimi
# codec and audio embeddings; sesame/csm-1b's config.json: depth_decoder_config, codec_config); Llama 3.2 Vision puts
# one <|image|> token an image in the sequence and feeds the tower's output through cross-attention layers
# (meta-llama/Llama-3.2-11B-Vision-Instruct config.json: text_config.cross_attention_layers, image_token_index; its
# vision_config: 560-pixel tiles of 14-pixel patches, max_num_tiles 4).
EXTRAS_KIND = {"csm": "audio", "mllama": "cross_attention"}


def extras_kind(model_type: str) -> str:
    """What the parameters the text config does not describe are: "audio" parts, a vision tower read through
    "cross_attention", or (most) a "vision" tower whose image tokens sit in the sequence."""
    return EXTRAS_KIND.get(family_of(model_type), "vision")


def figure_family(model_type: str, figures: dict[str, float]) -> str:
    """The family whose measured figure (of `figures`, keyed by family) applies to this model's vision tower: its own,
    else the largest of the measured towers of its kind ("vision" or "cross_attention"), carried over."""
    family = family_of(model_type)
    if family in figures:
        return family
    kind = extras_kind(model_type)
    return max((f for f in figures if extras_kind(f) == kind), key=figures.__getitem__)


def unsloth_16bit_sites(model_type: str) -> tuple[str, ...]:
    """Input sites of the linears Unsloth leaves 16-bit under QLoRA in this family (none for most)."""
    return UNSLOTH_16BIT_MAMBA_SITES.get(model_type, ())


# Families Unsloth 2026.10.9 never batches padding-free: its PADDING_FREE_BLOCKLIST (unsloth/trainer.py: Gemma 2's
# softcapping attention, gpt-oss's flex attention) and hybrids with Mamba-2 mixers (unsloth/utils/packing.py packs
# a hybrid by itself only when all its stateful mixers are gated-delta layers, or torch-safe short convolutions:
# _HYBRID_AUTO_KINDS; a Mamba mixer's state would leak across packed rows). Each micro-batch is padded to its
# longest row. Qwen3.5 is packed: its round-7 cell ran padding-free, auto-enabled; Nemotron-H's ran padded.
UNSLOTH_PADDED_TYPES = ("gemma2", "gpt_oss")
# ... and LFM2's short convolutions unless causal-conv1d is installed, which Unsloth's install does not bring: with
# transformers 5.17 they call the kernel through the hub (use_kernel_func_from_hub), and unsloth/utils/packing.py
# packs them only where that binds an accelerated kernel ("hybrid linear-attention packing disabled (padded path):
# causal_conv1d_fn has no accelerated kernel", in every LFM2 cell of ours). With causal-conv1d, Unsloth packs them.
UNSLOTH_PADDED_WITHOUT_CAUSAL_CONV1D = ("lfm2", "lfm2_moe")


# Families whose attention scores Unsloth 2026.10.9 materialises in the layer it recomputes, and the bytes a score
# and head that layer holds at the step's peak.
# - Gemma 2 caps its attention logits with tanh. Unsloth (models/gemma2.py Gemma2Attention_fast_forward) hands that
#   to flash-attn only when flash-attn >= 2.6.3 is installed (HAS_FLASH_ATTENTION_SOFTCAPPING), which Unsloth's own
#   install does not bring; otherwise kernels/flex_attention.py's compiled slow_attention_softcapping builds every
#   head's seq_len x seq_len scores, k and v expanded to every head, as eager attention does. Measured: one row of
#   Gemma-2-9B QLoRA (rounds 6, 10, 70b) allocated 7.11, 8.83, 11.48 and 15.24 GiB at 2,048-8,192 tokens, which
#   6.46 + 0.077 s + 0.128 s^2 GiB fits (s in thousands of tokens, every residual under 0.03 GiB): 8.2 bytes a score
#   and head, and about a fifth of the recomputed layer a token (79 KB of its 370). How the rows share them:
#   UNSLOTH_SCORES_SAVED_SHARE.
# - Gemma 3n runs eager attention whatever is installed (unsloth/models/_utils.py, _EAGER_ONLY_PREFIXES), sliding
#   layers too (their window is a mask over the full square). Measured on gemma-3n-E4B QLoRA (round 32): 19.67 GiB at
#   8,192 tokens where the count without scores gave 14.51; the memory trace of a later step held, at its peak, a
#   2.0 GiB fp32 and two 1.0 GiB 16-bit tensors of 8 heads x 8,192^2 scores: 8 bytes a score. It is the only eager
#   family in the catalog: every other one's transformers 5.17 class declares SDPA support, except gpt-oss, whose
#   attention unsloth_zoo replaces with its own flex attention (temporary_patches/gpt_oss.py, flex_attention_with_sink).
UNSLOTH_SCORE_BYTES: dict[str, float] = {"gemma2": 8.2, "gemma3n": 8.0, "gemma3n_text": 8.0}

# Of those bytes, the share each row saves for the backward; the rest is made while one chunk of rows is
# differentiated. slow_attention_softcapping runs the micro-batch's rows in chunks whose scores stay under 2^31
# elements (Inductor indexes them in int32): Gemma-2-9B's 16 heads take one row of 8,192 tokens a chunk, and eight of
# 4,096. Measured: a second row of 8,192 added 4.63 GiB allocated (QLoRA, round 44), 4.0 of them beyond a fifth of its
# layer, about 4 bytes a score; a second row of 4,096, in the first's chunk, added 2.30 (16-bit LoRA, round 14), a
# whole 8.2-byte square and a fifth of its layer. Counted as half; the split off bf16 is not measured (the same).
# The peak is the larger of two moments of the recomputed layer's backward: its MLP's, holding the whole layer and the
# saved scores, and its attention's, holding a fifth of the layer (UNSLOTH_ATTENTION_PEAK_LAYER_SHARE) and every score.
# The saved scores, allocated in the forward and held to the end as kept outputs are, add no reserve (the second row of
# 8,192 tokens reserved 0.1 GiB beyond its allocation); those made at the attention's peak, freed and made again layer
# by layer, leave the allocator 0.25-0.52 of themselves reserved beyond its fixed reserve from 4,096 tokens on (0.41
# at the median of the ten such cells, on and off bf16; rounds 14-70b). Counted at 0.45, above the median: a reserve
# counted short is an under-estimate.
# Held out (round 73): Gemma 2 2B, whose 8 heads keep two rows of 8,192 in one chunk, read +3.7 to +6.3 % at 1x4,096,
# 1x8,192 and 2x8,192 (one square for the rows together, as before, would have come 12.7 % under at 2x8,192).
# Traced (round 72, Gemma-2-9B where the rows share a chunk): the totals as counted (4.0 GiB of scores at 2x4,096, 4.1
# counted), but split otherwise: the forward's compiled kernel keeps 2 bytes a score and head, the backward makes 6.
# Where the rows share a chunk only the total matters; where they do not (2x8,192) the measured peak needs the half
# counted here, and round 75 traces that cell.
UNSLOTH_SCORES_SAVED_SHARE: dict[str, float] = {"gemma2": 0.5}
UNSLOTH_MADE_SCORES_RESERVED_SHARE = 0.45
SCORE_CHUNK_ELEMENTS = 2**31 - 1


def scores_at_peak(model_type: str, square: float, rows: int, heads: int, q_len: int) -> tuple[float, float]:
    """(saved, made): bytes of the scores the recomputed layer holds at its peak, given one row's `square`. Saved, by
    every row of the micro-batch for its backward; made, while one chunk of rows is differentiated. A family whose
    rows do not split the scores (UNSLOTH_SCORES_SAVED_SHARE) holds one square, all made."""
    saved = UNSLOTH_SCORES_SAVED_SHARE.get(model_type)
    if saved is None:
        return 0.0, square
    chunk = min(rows, max(1, SCORE_CHUNK_ELEMENTS // (heads * q_len * q_len)))
    return saved * square * rows, (1.0 - saved) * square * chunk

# Gemma 3 on a GPU without bf16, where Unsloth trains it in float32 (forced_float32): the step holds the square of the
# whole packed micro-batch, about 7.5 float32 copies of heads x tokens^2. Measured on Gemma 3 270M (4 heads) LoRA r128
# on the emulated T4 (round 44): 8 rows of 875 tokens, packed padding-free into one sequence of 7,000, allocated 6.38
# GiB where 1 row allocated 0.97, and over 100 steps of varied rows the step's allocated peak was 0.965 GiB + 119.4
# bytes x (the micro-batch's tokens)^2 to 6 MB: 29.9 bytes a score and head. The memory trace put 5.8 GB of the peak in
# the recomputed layer's backward, beside Unsloth's flex attention. The same 8 rows in bf16 allocated 1.18 GiB: no
# square. Gemma 4, also trained in float32 there, showed none either (E4B on the emulated T4, 1,024 to 4,096 tokens).
# Read in Unsloth 2026.10.9's code, not measured: Gemma 3 always goes through flex attention (a flex-preferred family,
# left out of the SDPA reroute for maskless causal calls), one row as well as packed ones, while Gemma 4's float32
# attention runs packed rows document by document through SDPA; hence one row is counted too (round 45 measures it).
UNSLOTH_FP32_SQUARE_BYTES: dict[str, float] = {"gemma3": 29.9}
# ... and beside that square, only part of the recomputed layer's float32 activations: the peak comes in the attention's
# backward, when what the layer made after its attention is gone. Gemma 3 4B QLoRA on the emulated T4 (rounds 45 and
# 50) allocated 1.04 GiB beyond the load and the fixed buffers at 1 x 2,048 tokens and 3.96 at 4,096 (2 x 2,048 the
# same), which is the square at 29.9 bytes a score and head with 8 heads (0.93, 3.74) plus 17-18 % of the layer's
# float32 count (0.61, 1.23); its bf16 twins, counted whole, came within 0.02 GiB. Gemma 3 270M's cells are nearly
# all square. Counted at 20 %, and for Gemma 2's attention moment too (unsloth_stack.held_at_score_peak): the share of
# the recomputed layer held where its attention's backward sets the peak.
UNSLOTH_ATTENTION_PEAK_LAYER_SHARE = 0.2
# ... and the allocator reserves little beyond that square, where it reserves the shared share of other activations
# (UNSLOTH_RESERVED_SHARE, about a quarter): on the emulated T4, beyond the allocated peak and the shared fixed reserve,
# Gemma 3 270M LoRA r128 reserved 0.05 of its activations at 1 x 4,096 and 0.12 at 8 packed rows of 875, Gemma 3 4B
# QLoRA 0.06 at 4,096 (1 x 4,096 and 2 x 2,048 alike) and none at 2,048, Gemma 3 12B QLoRA none at 2,048 (rounds 44-51;
# peak_reserved_bytes less peak_allocated_bytes). Counted at 0.1 of the square; with the shared share these cells
# read 9-23 % over (the reserve over by 0.3-0.8 GiB).
UNSLOTH_FP32_SQUARE_RESERVED_SHARE = 0.1


def scores_on_unsloth(model_type: str) -> bool:
    """True when Unsloth materialises this family's attention scores in the layer it recomputes, on every GPU."""
    return model_type in UNSLOTH_SCORE_BYTES


def fp32_square_on_unsloth(model_type: str, fp32_compute: bool) -> bool:
    """True when Unsloth's float32 step holds this family's square of the packed micro-batch (UNSLOTH_FP32_SQUARE_BYTES)."""
    return fp32_compute and family_of(model_type) in UNSLOTH_FP32_SQUARE_BYTES


# Gemma 2's scores off bf16 (fp16): its allocated step peaks on the emulated T4 (1,024-4,096 tokens, rounds 56 and 67b)
# and V100 (6,144 and 8,192, rounds 67 and 67b), 6.81, 7.55, 10.73, 15.96 and 23.21 GiB, fit 6.51 + 0.022 s +
# 0.258 s^2 (residuals under 0.04 GiB): 16.5 bytes a score and head, twice bf16's, and no more a token. Gemma 3n keeps
# its 8 off bf16: its softmax is float32 whatever the input's type (UNSLOTH_16BIT_STEP_WITHOUT_BF16; 1.0 % under at
# 8,192 off bf16).
UNSLOTH_SCORE_BYTES_WITHOUT_BF16: dict[str, float] = {"gemma2": 16.5}

# Float32-forced families whose Unsloth step on a GPU without bf16 holds what their bf16 step holds: Unsloth trains them
# without fp16 autocast, in their fp16 weights' type. Gemma 3n E4B QLoRA on the emulated T4 (rounds 52 and 57)
# allocated 10.07, 10.61 and 11.99 GiB at 1,024, 2,048 and 4,096 tokens; counted with float32 activations and scores it
# read 6.7, 10.7 and 18.2 % over, with its bf16 count 4.0, 4.2 and 2.6 % over. Gemma 4 E4B, measured the same way,
# holds its float32 count (2.6 % over at 2,048 and 4,096 tokens, where 16-bit activations read 3 and 8 % under).
# Their matmuls are then timed at the 16-bit rate too; what a public run took beside that is each one's note.
UNSLOTH_16BIT_STEP_WITHOUT_BF16: dict[str, str] = {
    "gemma3n": "Gemma 3n without bf16 is timed in fp16, as its memory was measured (an emulated T4). Unsloth's own Gemma "
               "3n E4B T4 notebook (Unsloth 2025.6.12, fp16 then too; 60 steps of 4 FineTome rows of about 700 tokens, "
               "r 8) took 542 s, 1.8 times what this step-time model gives that run (checked 2026-12-06): on a T4 "
               "expect up to twice this time.",
}


def sixteen_bit_step_note(model_type: str) -> str | None:
    """For a float32-forced family measured holding its bf16 step on a GPU without bf16, what a public run of it took
    beside our time (UNSLOTH_16BIT_STEP_WITHOUT_BF16); None for every other family."""
    return UNSLOTH_16BIT_STEP_WITHOUT_BF16.get(family_of(model_type))


def unsloth_score_bytes(model_type: str, fp32_compute: bool = False, bf16: bool = True) -> float:
    """Bytes a score and head the recomputed layer holds on Unsloth (0 where the scores are never materialised):
    Gemma 3's square exists only in float32, Gemma 2's scores double off bf16 (UNSLOTH_SCORE_BYTES_WITHOUT_BF16)."""
    if fp32_square_on_unsloth(model_type, fp32_compute):
        return UNSLOTH_FP32_SQUARE_BYTES[family_of(model_type)]
    if not bf16 and model_type in UNSLOTH_SCORE_BYTES_WITHOUT_BF16:
        return UNSLOTH_SCORE_BYTES_WITHOUT_BF16[model_type]
    return UNSLOTH_SCORE_BYTES.get(model_type, 0.0)


# Families Unsloth 2026.10.9 loads in float32 and casts back afterwards (unsloth/models/loader.py, register_custom_dtype
# read by models/vision.py): csm on every GPU ("all": float32, then the projections and heads to float16), Falcon-H1
# and Nemotron-H only where the GPU has no bf16 ("float16": for their Mamba kernels). While the checkpoint loads,
# every parameter left in 16 bits is held in float32. Measured on csm-1b (round 13): the allocator reserved 6.74 GiB
# at the load, 10.8 % above the float32 bytes of the 1.632B parameters built, and training stayed below it.
UNSLOTH_FLOAT32_LOAD: dict[str, str] = {"csm": "all", "falcon_h1": "float16", "nemotron_h": "float16"}
FLOAT32_LOAD_EXCESS = 0.108  # what the measured load reserved beyond its float32 weights, as a share of them


def float32_load_on_unsloth(model_type: str, bf16: bool) -> bool:
    """True when Unsloth loads this family in float32 first on a GPU with (or without) bf16."""
    rule = UNSLOTH_FLOAT32_LOAD.get(model_type)
    return rule == "all" or (rule == "float16" and not bf16)


# Gemma 4's per-layer-input models (E2B, E4B) hand each decoder layer its per-layer input as a keyword tensor that
# needs a gradient. unsloth_zoo's checkpoint wrapper lifts such tensors into positional ones
# (temporary_patches/misc.py, patch_GradientCheckpointingLayer_keyword_inputs), and on that path the layers' outputs
# stay on the GPU. Traced at the peak of a QLoRA step (rounds 34c-d): 40 of E4B's 42 outputs at 16,384 tokens
# (16,384 x 2,560 x 2 bytes each, 3.1 GiB; 40 of them at 4,096 too) and 33 of E2B's 35 (1.5 GiB), beside one
# boolean seq_len^2 mask (UNSLOTH_MASKS_HELD). Dense Gemma 4 31B, which has no per-layer inputs, held no outputs
# (traces at 2,048 and 8,192); Gemma 3n's compiled module takes another path and held none (8,192).
UNSLOTH_OUTPUTS_KEPT_FAMILIES = frozenset({"gemma4"})
UNSLOTH_OUTPUTS_FREED_AT_PEAK = 2  # the layers whose outputs the backward has already freed at its peak


def outputs_kept_on_unsloth(model_type: str, per_layer_input: int | None) -> bool:
    """True when Unsloth keeps every decoder layer's output on the GPU (Gemma 4 with per-layer inputs)."""
    return bool(per_layer_input) and family_of(model_type) in UNSLOTH_OUTPUTS_KEPT_FAMILIES


# Boolean seq_len^2 attention masks still held at the peak on Unsloth: transformers' sdpa_mask materialises them
# (Unsloth wraps it, import_fixes._unmask_rows_attending_to_nothing). Traced: one beside the kept outputs of Gemma 4
# E2B and E4B (rounds 34, 36c), two on Gemma 4 12B (gemma4_unified, round 36e: 2 x 64 MiB at 8,192 tokens); none at
# the peak of the 31B or 26B-A4B (no per-layer inputs; rounds 32, 34) or of Gemma 3n (round 33).
UNSLOTH_MASKS_HELD = {"gemma4_unified": 2}  # by family (family_of)


# Gemma 4 12B (gemma4_unified) beside its masks, read from memory traces of its QLoRA step at 8,192, 16,384 and
# 32,768 tokens (rounds 40c, 52b): the step's added allocations grow 342 KB a token, straight; 184 of them are the
# compiled MLP's six tensors (gemma_mlp_bytes counts 187) and 158 the rest of the recomputed layer, where the layer
# count is 144 KB: a scale of 1.10, not the dense one fitted over every family (1.64), which read its cells 10-16 %
# over from 8,192 to 32,768 tokens. At 65,536 and 98,304 tokens its allocator reserved 11.2 and 22.9 GiB beyond the
# allocated peak, about 1.3 times its two masks, where the shared share gives a quarter of them: 0.6 of the masks'
# bytes is reserved on top (sized with the scale, on the constants of the day: the least that kept its 65,536 and
# 98,304 cells from under-reading). With both, and the refit that followed (which lowered the softcapped Gemmas' MLP
# term, 12.07 -> 11.11, no longer pulled up by this family), its seven cells read -2.6 to +6.4 % (were -2.0 to
# +16.1 %). Counted for this family only: Gemma 4 E2B and E4B hold one mask beside their kept outputs and read 0-10 %
# over up to 65,536 tokens on the shared constants.
UNSLOTH_DENSE_SCALE_TRACED = {"gemma4_unified": 1.10}
UNSLOTH_MASKS_RESERVED = {"gemma4_unified": 0.6}

# GLM-4.7-Flash (latent attention 20 heads of 256 over a 2,048-wide stream, 64 experts) on the shared MoE scale read
# over in step with its tokens: QLoRA +0.6, +5.4 and +10.6 % at 2,048, 8,192 and 16,384, from its pre-quantised
# upload -0.2 and +3.0 % at 2,048 and 8,192 (rounds 29-67). Its allocated peak grows 157-219 KB a token (QLoRA), 235
# (16-bit LoRA), where the count grew 321. Measured, not traced: 1.8 first, the least that kept each of its seven
# cells within 1.1 % under (-1.1 to +2.5 %); round 68, held out, read its pre-quantised QLoRA at 32,768 tokens 2.7 %
# under (31.47 GiB measured, 30.62 predicted), so 1.9: its eight cells read -1.3 to +3.4 %. DeepSeek-V3's cut copy
# (4 layers, latent attention too) shows the same over-count in its steps, below its load's peak: they allocated 630 KB
# a token more from 2,048 to 8,192 tokens where the count grew 1,183 (rounds 59, 61b), so latent attention is the
# likely common cause. DeepSeek-V3 and Kimi K2 keep the fitted scale all the same: their loads set the peak, and a
# lower step figure is unmeasured at full depth (at 16,384 tokens, round 70b, the cut copy's step came 1.6 % under
# the fitted scale's figure, its load still the peak).
# gpt-oss and Qwen3-MoE on the shared MoE scale (2.72) read over in step with their tokens as well: QLoRA at 16,384
# and 32,768 tokens +8.8 and +11.6 % (gpt-oss-20b), +9.5 % and, with the compile off, +10.7 % (Qwen3-30B-A3B), where
# their cells up to 8,192 read -2.0 to +6.4 %. From 8,192 to 32,768 tokens gpt-oss-20b QLoRA allocated 6.5 GiB more
# where the count grew 7.6, and its allocator kept a flat 0.8-1.6 GiB beyond the allocation where the shared reserve
# share grew with the count (2026-12-07). Measured, not traced, as GLM's: the scale that brings the long cells within
# about 5 % over without taking any cell more than 0.6 points further under than the shared one did: 2.3 for gpt-oss
# (its twelve cells -2.6 to +3.8 %, were -2.0 to +11.6 %), 2.2 for Qwen3-MoE (its nineteen -1.7 to +5.6 %, were -1.4
# to +10.7 %). Gemma 4 26B-A4B and Mixtral, whose long cells read -2.0 to +1.1 % on the shared scale, keep it.
UNSLOTH_MOE_SCALE_MEASURED = {"glm4_moe_lite": 1.9, "gpt_oss": 2.3, "qwen3_moe": 2.2}


def layer_scale_on_unsloth(model_type: str, kind: str, fitted: float) -> float:
    """The scale on a layer's count: the family's own for its kind of layer (own_layer_scale), else the fitted one."""
    own = own_layer_scale(model_type)
    return own[1] if own and own[0] == kind else fitted


def own_layer_scale(model_type: str) -> tuple[str, float, str] | None:
    """(kind of layer, scale, how it was found) for a family counted on a scale of its own, else None."""
    family = family_of(model_type)
    if family in UNSLOTH_DENSE_SCALE_TRACED:
        return "dense", UNSLOTH_DENSE_SCALE_TRACED[family], "read from memory traces of its steps"
    if family in UNSLOTH_MOE_SCALE_MEASURED:
        return "moe", UNSLOTH_MOE_SCALE_MEASURED[family], "sized on its own measured runs, not traced"
    return None


def masks_reserved_on_unsloth(model_type: str) -> float:
    """Share of the masks' bytes the allocator reserves beyond the shared share, for this family (0 if none)."""
    return UNSLOTH_MASKS_RESERVED.get(family_of(model_type), 0.0)


def masks_held_on_unsloth(model_type: str, per_layer_input: int | None) -> int:
    """How many boolean seq_len^2 masks Unsloth's step still holds at its peak for this family (traced)."""
    if outputs_kept_on_unsloth(model_type, per_layer_input):
        return 1
    return UNSLOTH_MASKS_HELD.get(family_of(model_type), 0)


# Gemma families without final-logit softcapping whose recomputed layer still holds Unsloth's compiled MLP's tensors
# beyond the count (unsloth_stack.gemma_mlp_bytes; the softcapped ones, Gemma 2, 3n and 4, have their own constant).
# Gemma 3: memory traces at the peak of the 4B's QLoRA step (8,192 and 16,384 tokens; rounds 37, 38c) held six 16-bit
# MLP-width tensors of the compiled MLP, as on Gemma 4, and nothing growing with seq_len^2 (attention through
# Unsloth's flex attention); the 4B's allocated peak grew 1.51 GiB from 8,192 to 16,384 tokens and 3.09 from 16,384
# to 32,768 (round 38), linear in the tokens and a third more a token than the layer count gave. Round 36 had read the
# shortfall at 16,384 as two seq_len^2 masks and round 37 kept it as a seq_len^2 allowance, which put the 4B 15 % over
# at 32,768.
UNSLOTH_PLAIN_GEMMA_MLP_FAMILIES = frozenset({"gemma3"})


def plain_gemma_mlp_on_unsloth(model_type: str) -> bool:
    """True for an unsoftcapped Gemma family whose compiled MLP holds more than the count (Gemma 3)."""
    return family_of(model_type) in UNSLOTH_PLAIN_GEMMA_MLP_FAMILIES


# Families whose every calibration cell ran with Unsloth's per-block compile off (UNSLOTH_BLOCK_COMPILE=0): on Unsloth
# 2026.10.9 with torch 2.11 and triton 3.6 on the H200, Gemma 2's first step failed in Inductor and Gemma 3n and 4
# never finished a step with it on (rounds 5-6; Gemma 4 26B-A4B did in round 34, its compile failing back to the
# stock forward); Gemma 3's cells ran the same way. What they measured, the first step's time among it, is for that.
UNSLOTH_COMPILE_OFF_FAMILIES = frozenset({"gemma2", "gemma3", "gemma3n", "gemma4", "gemma4_unified"})
# How those runs were made, as the answers say it (a memory figure's ground, a plan's first steps).
COMPILE_OFF_RUNS = ("Unsloth's per-block compile off (UNSLOTH_BLOCK_COMPILE=0), as every Gemma run here was: with it "
                    "on, Gemma 2, 3n and 4 failed or never finished a step on our torch 2.11")


def compile_off_on_unsloth(model_type: str) -> bool:
    """True for the families measured on Unsloth only with its per-block compile off."""
    return family_of(model_type) in UNSLOTH_COMPILE_OFF_FAMILIES


def masked_attention_on_unsloth(model_type: str) -> bool:
    """True for the families whose attention on Unsloth costs the whole causal square on every layer, at a slower
    kernel's speed than the fit's flash attention: those whose eager scores it materialises (scores_on_unsloth: Gemma 2
    and 3n), which mask a sliding window rather than skip it. Not Gemma 3: it attends through Unsloth's flex attention
    (traced, round 37), which skips the masked blocks; its step at 16,384 tokens ran at the windowed count. Not Gemma 4:
    its sliding layers skip their window (round 38e: E2B at 32,768 tokens took 3.99 s a step as published, 5.88 s with
    the window raised to 32,768); its steps grow with the square of the tokens through its global layers' 512-wide
    heads (UNSLOTH_WIDE_HEAD_DIM)."""
    return scores_on_unsloth(model_type)


# Attention heads wider than this run, on Unsloth 2026.10.9, through its own Triton kernel (unsloth/kernels/
# large_head_attention.py: "Flash attention for head_dim > 256 (Gemma-4 global layers), where FA2 and SDPA's flash /
# cuDNN backends stop"; tiles of 16-32 rows), not a flash kernel. Measured: Gemma 4 E2B QLoRA at 32,768 tokens took
# 3.99 s a step with its seven global layers' 512-wide heads and 1.64 s with them narrowed to 256 (round 38f, an
# experiment): the wide heads' attention, twice the FLOPs, took about 2.3 s more. The kernel takes 512-wide heads only
# (_SUPPORTED_HEAD_DIMS); another width above 256 goes back to SDPA's slower kernels, not measured, counted the same.
UNSLOTH_WIDE_HEAD_DIM = 256


def padded_on_unsloth(model_type: str, mamba_mixers: bool) -> bool:
    """True when Unsloth pads this family's micro-batches to their longest row instead of packing them (LFM2: as
    installed without causal-conv1d)."""
    return mamba_mixers or family_of(model_type) in (*UNSLOTH_PADDED_TYPES, *UNSLOTH_PADDED_WITHOUT_CAUSAL_CONV1D)
