"""The Unsloth stack's peak as we measured it (pure): its offloaded checkpointing keeps about one layer's
recompute on the GPU whatever the depth, its chunked loss is bounded, its allocator reserve and CUDA context
are fitted constants (`constants`, UNSLOTH FITTED)."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.activations import Coefficients, coefficients, token_bytes
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.extras import RowsStep
from finetune_advisor.vram.families import (
    AUX_ONE_HOT_BYTES, FLOAT32_LOAD_EXCESS, FOLDED_EXPERT_STACKS, LATE_TRIAL_GRADS_HELD, LINEAR_MIXER_FAMILIES,
    PREQUANTISED_EXPERT_LOAD_SHARES, ROUTER_AUX_OFF_MEASURED, ROUTER_TRIAL_MEASURED, UNSLOTH_FP32_SQUARE_BYTES,
    UNSLOTH_ATTENTION_PEAK_LAYER_SHARE, UNSLOTH_FP32_SQUARE_RESERVED_SHARE, UNSLOTH_FULL_LOGITS_BYTES,
    UNSLOTH_MADE_SCORES_RESERVED_SHARE, UNSLOTH_CHUNK_BUDGET_GIB, UNSLOTH_SCORES_SAVED_SHARE,
    UNSLOTH_OUTPUTS_FREED_AT_PEAK, block_compile_skipped,
    chunked_loss_on_unsloth, experts_stored_fused, family_of, float32_load_on_unsloth, fp32_square_on_unsloth,
    full_logits_on_unsloth, full_logits_reserved, layer_scale_on_unsloth, loss_chunk_rows, masks_held_on_unsloth,
    masks_reserved_on_unsloth, outputs_kept_on_unsloth, own_layer_scale, padded_head_copies_bytes, padded_on_unsloth,
    plain_gemma_mlp_on_unsloth, prequantised_load_share, reserve_extra_on_unsloth, router_trial_kept,
    scores_at_peak, scores_on_unsloth, tried_note, unclaimed_expert_stacks, unsloth_score_bytes, varied_rows_note,
)
from finetune_advisor.vram.ground import (
    by_family, error_margin, ground_notes, ground_said, measured_cells, measured_ground, over_margin,
    tail_growth,
)
from finetune_advisor.vram.local_memory import deltanet_stack_gib, mamba2_stack_gib
from finetune_advisor.vram.run import AUX_LOSS_OFF, BLOCK_COMPILE_OFF, Breakdown, CoreEstimate, RunConfig, billions
from finetune_advisor.vram.shapes import DELTANET_LORA, Linear, Shapes, deltanet_layers, widest_mlp
from finetune_advisor.vram.terms import (
    NF4_BYTES, NF4_FLAT_ABSMAX_BYTES, Precision, TrainingState, Weights, encoder_decoder_notes, encoder_frames,
    encoder_layer_bytes, loss, text_tokens,
)


@dataclass(frozen=True)
class UnslothStep:
    """What a LoRA/QLoRA step on Unsloth holds beyond weights and training state (bytes), fitted to
    our measurements (bench/vram_calibration/data/unsloth_sft_1gpu.jsonl): its offloaded checkpointing
    leaves about one layer's recompute on the GPU, whatever the depth; its chunked loss is bounded."""

    fixed: float
    activations: float
    loss: float
    moe: float  # the experts' dequantised or gathered weights of one layer
    gap: float  # what the allocator reserves beyond what is allocated (expandable segments)
    scores: float = 0.0  # of the activations: one layer's materialised attention scores (families.scores_on_unsloth)
    first_step: float = 0.0  # what only the first step of a fresh process holds beyond a later one (router_trial)
    kept: float = 0.0  # of the activations: layer outputs held on the GPU (families.outputs_kept_on_unsloth)
    square: float = 0.0  # of the activations: boolean seq_len^2 masks held at the peak (families.masks_held_on_unsloth)
    beyond: float = 0.0  # past the longest step measured of family and method, what the count misses (tail_growth)
    extra: float = 0.0  # of the gap: what the family was measured holding beyond the count (families.UNSLOTH_RESERVE_EXTRA)
    copies: float = 0.0  # the compiled loss's padded copies of lm_head (families.padded_head_copies_bytes)
    cached: float = 0.0  # of the gap: the copies' blocks, freed before the layers' backward yet kept reserved
    chunk_rows: int = 0  # of the loss: rows of logits in one compiled chunk; 0 off that route (chunked_loss_on_unsloth)
    block: float = 0.0  # the gap where one dequantised expert block sets it (dequantised_expert_block)
    logits: float = 0.0  # the whole logits, where the loss runs over them (full_logits_bytes); loss: their excess


def unsloth_step(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, state: TrainingState,
                 multimodal: bool = False) -> UnslothStep:
    coef, width, lora = coefficients("unsloth", run.method, False), 2.0 if p.fp32_compute else 1.0, state.lora
    kernel = "eager" if scores_on_unsloth(arch.model_type) else "flash"
    tb = token_bytes(s, coef, lora, run.lora_rank, kernel, dropout=run.lora_dropout > 0, width_scale=width)
    tokens = text_tokens(arch, run)
    # One layer's, counted not fitted. Rows Unsloth packs padding-free make one sequence, and eager attention builds
    # its whole square: Gemma 3n QLoRA at 2x4,096 peaked at 19.56 GiB, as at 1x8,192 (19.67; round 33). Padded rows
    # (Gemma 2) each keep part of their own square and make the rest a chunk of rows at a time (scores_at_peak).
    padded = padded_on_unsloth(arch.model_type, s.mamba_mixers)
    keys = tokens // run.batch_size if padded else tokens
    square_bytes = unsloth_score_bytes(arch.model_type, p.fp32_compute, run.bf16) * s.heads * keys * keys
    saved, made = scores_at_peak(arch.model_type, square_bytes, run.batch_size if padded else 1, s.heads, keys)
    scores = saved + made
    kind = layer_kind(arch, s, run.method)
    scale = layer_scale_on_unsloth(arch.model_type, kind, k.UNSLOTH_LAYER_SCALE[kind])
    kept = outputs_kept_bytes(arch, s, tokens, width)
    square = masks_held_on_unsloth(arch.model_type, arch.hidden_size_per_layer_input) * float(tokens * keys)
    routed = routed_intermediate_bytes(s, width)
    layer = tb.layer + routed + mamba_backward_bytes(s) * width
    act = (scale * layer + deltanet_backward_bytes(arch) * width + gemma_mlp_bytes(arch, s)) * tokens
    fp32_square = scores if fp32_square_on_unsloth(arch.model_type, p.fp32_compute) else 0.0
    if fp32_square:  # the peak comes after the layer's end is freed
        act *= UNSLOTH_ATTENTION_PEAK_LAYER_SHARE
    act, scores, made_at_peak = held_at_score_peak(act, saved, made)
    act += kept + square
    chunked = chunked_loss_on_unsloth(arch.model_type, padded, multimodal) and not s.encoder
    chunk_rows = loss_chunk_rows(tokens, arch.vocab_size, run.loss_budget_gib) if chunked else 0
    loss = chunk_loss_bytes(arch, chunk_rows)
    if s.encoder:
        act, loss = _unsloth_encoder_decoder(s, run, p, lora, tb.layer * tokens + tb.frames * encoder_frames(s, run),
                                             tokens)
    moe_bytes = expert_layer_bytes(arch, s, run, lora)
    logits = full_logits_bytes(arch, run, tokens, multimodal) if not s.encoder else 0.0
    if logits:  # the peak is the larger of the loss over the whole logits and the layer's recompute after it
        loss = max(0.0, logits - act - moe_bytes)
    copies = padded_head_copies_bytes(arch.vocab_size, arch.hidden_size) if chunk_rows else 0.0
    # The copies belong to the loss's compiled graph and are freed before the layers' backward, so the allocated peak
    # holds the larger of them and the recomputed layer, not both (OLMo 3 7B QLoRA: the loss's peak, copies and a
    # chunk, at 512 to 8,192 tokens, the layer's from 16,384 to 28,672; rounds 47-50, 76). What is freed stays
    # reserved where memory is plenty (after a shorter step, 1x16,384 on an H200 reserved 2.34 GiB beyond its
    # allocation), and is given back under a cap (a 12 GiB cap: 0.82 to 1.21 GiB beyond it at 16,384 to 28,672).
    cached = max(0.0, min(copies, act - kept))
    fixed = k.UNSLOTH_FIXED_GIB * k.GIB + copies - cached
    if run.method == "qlora":
        fixed += max(lin.fan_in * lin.fan_out for lin in s.linears if not lin.expert) * 2.0  # one dequantised weight
    # The kept outputs, allocated layer by layer and held to the backward, leave the allocator no holes to reserve;
    # a tokens^2 block made each step does (E2B's mask at 65,536 tokens reserved 5.7 GiB beyond its peak, round 36e;
    # Gemma 4 12B QLoRA 2.6, 11.2 and 22.9 GiB beyond its allocated peak at 32,768, 65,536 and 98,304 tokens, about 1.3
    # times its masks). A reserve share of the masks' own, fitted over every family (round 51), stayed at the shared
    # one while the 12B's per-token count read over; with its traced layer scale, its own share is counted on top
    # (families.UNSLOTH_MASKS_RESERVED).
    gap = k.UNSLOTH_RESERVED_SHARE * (act - kept - fp32_square - saved - made_at_peak + loss + moe_bytes)
    gap += UNSLOTH_MADE_SCORES_RESERVED_SHARE * made_at_peak + k.UNSLOTH_RESERVED_GIB * k.GIB
    gap += UNSLOTH_FP32_SQUARE_RESERVED_SHARE * fp32_square
    gap += masks_reserved_on_unsloth(arch.model_type) * square
    gap += full_logits_reserved(run.method) * logits
    block = dequantised_expert_block(s) if run.method == "qlora" and not experts_folded(arch, run, lora) else 0.0
    block = block if block > gap else 0.0
    gap = max(gap, block)
    extra = reserve_extra_on_unsloth(arch.model_type) * k.GIB
    gap += extra + cached
    if run.method == "full":  # every weight's gradient, allocated during the backward pass among its activations
        gap += k.UNSLOTH_FULL_GRAD_RESERVED_SHARE * state.grads
    trial = 0.0
    if trial_kept(arch, run):
        path = router_path_bytes(s, coef, width, run.method)  # None: the trial keeps the whole layer
        saved = (deltanet_saved_bytes(arch, s) + mamba_saved_bytes(s)) * width
        held, late = whole_trial_bytes(s, coef, tb.layer + routed + saved, width) if path is None else (path, False)
        trial = router_trial(s, tokens, held, state, late)
        if path is not None:  # the freed half of every layer leaves holes between what stays (granite, round 22)
            trial *= 1 + k.UNSLOTH_TRIAL_RESERVED_SHARE
    return UnslothStep(fixed, act, loss, moe_bytes, gap, scores, trial, kept, square, tail_growth(arch, run), extra,
                       copies, cached, chunk_rows, block, logits)


def copies_note(vocab: int, copies: float, cached: float) -> str:
    """What the padded copies of lm_head add here: held at the loss, or cached while the layers' backward peaks."""
    said = (f"The vocabulary ({vocab:,}) is not a multiple of 8, so the compiled loss pads two 16-bit copies of the "
            f"output layer's weight: {copies / k.GIB:.2f} GiB (a memory trace of OLMo 3, vocabulary 100,278, held both, "
            "to the byte). They are freed before the layers' backward, so what is allocated at the peak is the larger "
            f"of them and the recomputed layer ({'the copies' if cached < copies else 'the layer'}, here)")
    if round(cached / k.GIB, 2) == 0:
        return said + "."
    return (said + f"; the smaller one's blocks can stay reserved beside it ({cached / k.GIB:.2f} GiB of the figure, in "
            "the overhead), but PyTorch's allocator gives them back and retries before it runs out, so whether the run "
            "fits a GPU is judged without them (needs_gib; measured: OLMo 3 7B QLoRA with its allocator capped at 12 "
            "GiB ran to 28,672 tokens, out of memory at 32,768, and reserved 0.8-1.2 GiB beyond its allocation).")


def full_logits_bytes(arch: Architecture, run: RunConfig, tokens: int, multimodal: bool) -> float:
    """The whole logits a family whose loss runs over them holds at its loss (families.full_logits_on_unsloth), in
    16 bits and float32 at once; 0 for the others. Counted from a memory trace, not fitted."""
    if not full_logits_on_unsloth(arch.model_type, multimodal):
        return 0.0
    return UNSLOTH_FULL_LOGITS_BYTES * tokens * arch.vocab_size


def chunk_loss_bytes(arch: Architecture, rows: int) -> float:
    """What one compiled chunk of `rows` rows of Unsloth's fallback loss holds (families.loss_chunk_rows, for a family
    that takes it: families.chunked_loss_on_unsloth), at the fitted bytes a logit. The fused-linear loss of the other
    families holds a bounded buffer, which the fixed term does."""
    return k.UNSLOTH_CHUNK_LOSS_BYTES * rows * arch.vocab_size


def held_at_score_peak(act: float, saved: float, made: float) -> tuple[float, float, float]:
    """The recomputed layer's activations with its attention scores, the scores among them, and the made ones among
    those (`saved`, `made`: families.scores_at_peak). Where rows keep part of their scores the peak is the larger of
    the MLP's backward (the whole layer and the saved scores) and the attention's (a share of the layer and every
    score), and the made scores held there are reserved at their own share (UNSLOTH_MADE_SCORES_RESERVED_SHARE)."""
    if not saved:
        return act + made, made, 0.0
    mlp, attention = act + saved, UNSLOTH_ATTENTION_PEAK_LAYER_SHARE * act + saved + made
    return (attention, saved + made, made) if attention >= mlp else (mlp, saved, 0.0)


def gemma_mlp_bytes(arch: Architecture, s: Shapes) -> float:
    """Per token, what the recomputed layer of a Gemma holds beyond the layer count, fitted per unit of its widest
    dense MLP: for the softcapped ones (2, 3n, 4; constants.UNSLOTH_SOFTCAP_MLP_BYTES) and Gemma 3
    (UNSLOTH_GEMMA3_MLP_BYTES, families.plain_gemma_mlp_on_unsloth). Memory traces at the peak (Gemma 4 31B, E2B, E4B,
    rounds 33-34; Gemma 3 4B, rounds 37-38) held no loss buffer but six MLP-width 16-bit tensors of Unsloth's compiled
    MLP in the recomputed layer, where the count gives its fused MLP four bytes a unit. The per-vocabulary-entry loss
    term fitted before put E4B 6.6 % under at 16,384 tokens and E2B 3.7 % over, with the same vocabulary. Not on a MoE:
    Gemma 4 26B-A4B's peak falls in a MoE layer's backward, which the MoE scale covers (traced, round 32). Counted at 16
    bits on the fp32 path of a GPU without bf16 too: traced there (E4B on the emulated T4, round 36c), the compiled
    MLP's tensors stayed 16-bit while the layer outputs were fp32."""
    if s.routed_layers:
        return 0.0
    if arch.final_logit_softcapping:
        return k.UNSLOTH_SOFTCAP_MLP_BYTES * widest_mlp(s)
    if plain_gemma_mlp_on_unsloth(arch.model_type):
        return k.UNSLOTH_GEMMA3_MLP_BYTES * widest_mlp(s)
    return 0.0


def outputs_kept_bytes(arch: Architecture, s: Shapes, tokens: int, width: float) -> float:
    """The layer outputs Unsloth holds on the GPU at the peak of a Gemma 4 model with per-layer inputs
    (families.outputs_kept_on_unsloth); counted, not fitted."""
    if not outputs_kept_on_unsloth(arch.model_type, arch.hidden_size_per_layer_input):
        return 0.0
    return (s.layers - UNSLOTH_OUTPUTS_FREED_AT_PEAK) * s.hidden * 2.0 * width * tokens


def expert_layer_bytes(arch: Architecture, s: Shapes, run: RunConfig, lora: tuple[Linear, ...]) -> float:
    """What one MoE layer holds of its routed experts' weights while it runs: the fitted share of one routed layer's
    experts in 16 bits, or, where peft folds the LoRA into whole expert stacks (`experts_folded`), that many folded
    stacks."""
    if s.routed_layers == 0:
        return 0.0
    layer = _expert_layer_16bit(s)
    if experts_folded(arch, run, lora):
        return FOLDED_EXPERT_STACKS * layer / sum(lin.expert for lin in s.linears)  # one stack: one expert matrix
    return k.UNSLOTH_MOE_LAYER_SHARE["qlora" if run.method == "qlora" else "lora"] * layer


def dequantised_expert_block(s: Shapes) -> float:
    """The largest 16-bit copy QLoRA makes of one MoE layer's routed experts at once (bytes): transformers 5 stores
    a layer's experts as fused 3-D parameters (gate and up as one gate_up_proj), and Unsloth dequantises one whole.
    When that block outgrows what the step's other buffers leave free, the allocator can keep a second one reserved:
    DeepSeek-V3 cut to 4 layers (one MoE layer of 256 experts, gate_up 14.0 GiB in 16 bits) held 15.75 GiB beyond its
    weights at 2,048 tokens and reserved 4.35 GiB beyond what it allocated; at 8,192 tokens its steps reserved
    14.66 GiB beyond it, after a 2,048-token step in the same process (round 59) and in a fresh one (round 61b); at
    4,096 tokens, fresh, 3.12. On the families measured before (blocks of 0.75-1.75 GiB) the
    fitted reserve is about that size already, so the floor moves them little."""
    down = sum(lin.params for lin in s.linears if lin.expert and lin.name == "down_proj")
    return max(_expert_layer_16bit(s) - 2.0 * down, 2.0 * down)


def _expert_layer_16bit(s: Shapes) -> float:
    """One routed layer's experts in 16 bits (0 without routed layers)."""
    return s.expert_bytes_16bit / s.routed_layers if s.routed_layers else 0.0


def experts_folded(arch: Architecture, run: RunConfig, lora: tuple[Linear, ...]) -> bool:
    """Whether peft folds LoRA into this family's whole expert stacks (families.UNCLAIMED_EXPERT_STACKS): in 16 bits
    under LoRA and QLoRA alike, since QLoRA leaves such stacks 16-bit."""
    adapted = run.method in ("lora", "qlora") and any(lin.expert for lin in lora)
    return adapted and unclaimed_expert_stacks(arch.model_type) is not None


def folded_note(arch: Architecture, held: float) -> str:
    return (f"MoE LoRA on this family's {unclaimed_expert_stacks(arch.model_type)} expert stacks: Unsloth 2026.10.9 "
            "leaves them to peft, which folds the adapters into a new 16-bit copy of each whole stack at every MoE "
            f"call; {FOLDED_EXPERT_STACKS} such stacks, {held / k.GIB:.1f} GiB, are counted at the peak (read from the "
            "code, not traced; with them the estimate is 0.7-1.4 % above Nemotron-3-Nano's measured peaks: three 16-bit "
            "LoRA runs from 2,048 to 8,192 tokens and one QLoRA run).")


def trial_kept(arch: Architecture, run: RunConfig) -> bool:
    """Whether this run's router aux loss keeps the first step's trial forwards (families.router_trial_kept)."""
    return run.router_aux_loss and router_trial_kept(arch.model_type, arch.router_aux_loss_coef)


def routed_intermediate_bytes(s: Shapes, width: float) -> float:
    """Bytes a token a MoE layer holds beyond the count per element of its experts' intermediate width (top_k times
    the expert's, with any shared expert), fitted (k.UNSLOTH_MOE_INTERMEDIATE_BYTES): the count weighs a routed
    token's hidden-wide copies and its intermediate alike across MoE families, and at 16,384 tokens Mixtral (two
    experts 14,336 wide) held more than it counts where Qwen3-30B-A3B and gpt-oss-20b (narrow experts) held less (round
    65: Mixtral's cut copy 11 % above its prediction, both in its first step's trials and in later steps)."""
    return k.UNSLOTH_MOE_INTERMEDIATE_BYTES * s.mlp_width * width if s.router_width else 0.0


def router_trial(s: Shapes, tokens: int, layer_bytes: float, state: TrainingState, late: bool = False) -> float:
    """What the first step of a fresh process holds beyond a later one when the router's aux loss keeps every
    layer's compiled trial forward (`trial_kept`): each MoE layer's saved tensors for the step's tokens, less the
    optimizer states that step does not hold yet. Where the peak comes early in the backward, the aux loss's one-hot
    is held and no LoRA gradient is made yet; where it comes `late` (`whole_trial_bytes`), the one-hot is freed and
    a measured share of the LoRA gradients is held (LATE_TRIAL_GRADS_HELD)."""
    if s.router_width == 0:
        return 0.0
    one_hot = 0.0 if late else AUX_ONE_HOT_BYTES * s.top_k * s.router_width
    kept = (layer_bytes + one_hot) * tokens * s.routed_layers
    return max(0.0, kept - (1 - LATE_TRIAL_GRADS_HELD if late else 1.0) * state.grads - state.states - state.temp)


def whole_trial_bytes(s: Shapes, c: Coefficients, whole: float, width: float) -> tuple[float, bool]:
    """Bytes a token, averaged over the layers, that a trial keeping whole layers holds (`router_trial`), from
    `whole`, the whole layer's count with its mixers' kernel-saved tensors, and whether its peak comes late in the
    backward. In a Mamba-2 + MoE hybrid (Granite 4.0-H) in 16 bits, traced (round 82: granite-4.0-h-tiny LoRA r16
    at 4,096 tokens, a fresh process's first step): attention's saved tensors were live in its 4 attention layers
    only, where the count gives each of the 40 layers attention, and the peak came in the first layer's backward
    (mamba_ssm's `_state_passing_bwd` among the live blocks), after the aux loss had freed its one-hot; its MoE held
    more than the count's MLP terms (the routed intermediate's fitted bytes stay). At ranks 64 and 128 the same
    step held part of its LoRA gradients beyond that (rounds 83 and 84; LATE_TRIAL_GRADS_HELD). Elsewhere
    the whole count, the one-hot and no gradients, as measured on Qwen3-MoE, Qwen3.5-MoE, Mixtral and ERNIE 4.5."""
    found = _hybrid_moe_mixer(s)
    if found is None:
        return whole, False
    return whole - s.share(found[0]) * _attention_saved_bytes(s, c) * width, True


def _attention_saved_bytes(s: Shapes, c: Coefficients) -> float:
    """Bytes a token of one attention layer's own saved tensors in the count (`token_bytes`, flash SDPA): q, k, v
    and the output, and the log-sum-exp."""
    return c.q * s.q_width + c.kv * s.kv_width + 4 * s.heads


def router_path_bytes(s: Shapes, c: Coefficients, width: float, method: str) -> float | None:
    """Bytes a token, averaged over the layers, that a layer's trial forward keeps (`router_trial`) in a Granite
    4.0-H hybrid (a Mamba-2 mixer or attention, then the MoE, in every layer) under QLoRA; None where the trial
    keeps the whole layer (`token_bytes` and the mixers' kernel-saved tensors): other models (measured on Qwen3-MoE,
    Qwen3.5-MoE and Mixtral) and Granite 4.0-H in 16 bits. Under QLoRA only what leads to the router's logits
    stays: the norms' inputs, the mixer's (`mamba_saved_bytes`) or attention's saved tensors, and the router's
    probabilities; what the experts and the shared MLP save is freed. Measured on granite-4.0-h-tiny QLoRA (round
    22): its first steps at 4,096 and 8,192 tokens allocated 29.9 KB a token and layer more than later ones (LoRA
    gradients and optimizer states added back), where this count gives 29.3 with the aux loss's one-hot that
    `router_trial` adds (24.7 without) and the whole layer's 60.4. Its 16-bit LoRA at 4,096 tokens (round 24)
    held 9.7 GiB more at its first step, 2.7 times QLoRA's 3.6 at the same length: whole layers
    (`whole_trial_bytes`), not this count (3.8). Why 4-bit experts free their part of the trial was not traced."""
    found = _hybrid_moe_mixer(s)
    if method != "qlora" or found is None:
        return None
    mixer, mixers = mamba_saved_bytes(s), s.share(found[0])
    attention = 2.0 * s.hidden + _attention_saved_bytes(s, c)  # q/k/v input, SDPA
    path = c.norm * s.norms * s.hidden + 4 * s.norms + mixer + (1 - mixers) * attention + 4 * s.router_width
    return path * width


def _hybrid_moe_mixer(s: Shapes) -> tuple[Linear, int] | None:
    """`_mamba_mixer` of a Mamba-2 + MoE hybrid (Granite 4.0-H), whose trial `router_path_bytes` and
    `whole_trial_bytes` count by layer kind; None for any other model."""
    return _mamba_mixer(s) if s.router_width else None


def _mamba_mixer(s: Shapes) -> tuple[Linear, int] | None:
    """The Mamba-2 mixer's in_proj and its inner width (out_proj's input); None without Mamba-2 layers."""
    mamba = next((lin for lin in s.linears if lin.site == "mamba_in"), None)
    if mamba is None:
        return None
    return mamba, next(lin.fan_in for lin in s.linears if lin.site == "mamba_out")


def mamba_saved_bytes(s: Shapes) -> float:
    """Bytes a token, averaged over the layers, that mamba_ssm's fused split-conv1d-scan function saves for a
    Mamba-2 mixer beyond the count of its linears' inputs (`token_bytes`): its in_proj output and its scan output,
    16-bit; 0 without Mamba-2 layers. Only a trial forward keeps every layer's (`router_trial`)."""
    mixer = _mamba_mixer(s)
    if mixer is None:
        return 0.0
    mamba, d_inner = mixer
    return s.share(mamba) * 2.0 * (mamba.fan_out + d_inner)


def mamba_backward_bytes(s: Shapes) -> float:
    """Bytes a token, averaged over the layers, that the backward of mamba_ssm's fused split-conv1d-scan function
    holds for a Mamba-2 mixer beyond its linears' inputs, counted from its autograd function (mamba_ssm 2.3.2
    ops/triton/ssd_combined.py): what the forward saved (`mamba_saved_bytes`), the gradient of the in_proj output it
    allocates whole, and the convolution it runs again (in_proj's width less the gate z; its dt heads, a few bytes,
    counted too), 16-bit. In the layer Unsloth recomputes, so only where no MoE layer's backward holds the peak: on
    Falcon-H1 3B (round 56h) the count without it gave 83 KiB a token, where the allocator's peak grew by 159 KiB a
    token from 2,048 to 8,192 tokens; with it 167."""
    mixer = _mamba_mixer(s)
    if mixer is None or s.router_width > 0:
        return 0.0
    mamba, d_inner = mixer
    return mamba_saved_bytes(s) + s.share(mamba) * 2.0 * (2 * mamba.fan_out - d_inner)


def layer_kind(arch: Architecture, s: Shapes, method: str) -> str:
    """Which fitted layer scale a model takes: "moe" (routed experts), "deltanet" (Gated DeltaNet hybrids, whose fla
    kernels' first step holds more than the count: Qwen3.5-4B at 16k and 32k, round 13), "full" (full fine-tuning of
    a dense model: its peak comes as the backward pass ends, all the weights' gradients held and little of the
    recompute left, so the tokens add less than under LoRA: Llama-3.2-1B and Qwen3-4B, rounds 8-30) or "dense"."""
    if s.router_width > 0:
        return "moe"
    if deltanet_layers(arch):
        return "deltanet"
    return "full" if method == "full" else "dense"


def _unsloth_encoder_decoder(s: Shapes, run: RunConfig, p: Precision, lora: tuple[Linear, ...], decoder: float,
                             tokens: int) -> tuple[float, float]:
    """(activations, loss) of a Whisper step on Unsloth. About one layer's recompute stays on the GPU, as measured
    on decoder-only models: the larger of a decoder layer (its tokens, plus cross-attention over the frames) and an
    encoder layer (its frames); beside it, the encoder output every decoder layer reads, which Unsloth's offloading
    does not move (it offloads a checkpointed layer's first argument only; counted at 4 bytes an element, the
    encoder's last LayerNorm running in fp32 under autocast). Unsloth's fused loss takes only *ForCausalLM classes
    (unsloth_zoo fused_losses/forward_install.py), so Whisper's own loss over its full logits is counted, as on
    the transformers stack."""
    encoder = encoder_layer_bytes(s, run, coefficients("unsloth", run.method, False), "flash", p, lora)
    output = 4.0 * encoder_frames(s, run) * s.hidden
    return k.UNSLOTH_LAYER_SCALE["dense"] * max(decoder, encoder) + output, loss(s, run, p, tokens)[0]


# fla's chunked gated-delta-rule (the copy unsloth_zoo 2026.10.9 vendors: _vendored/fla/ops/gated_delta_rule/chunk.py,
# chunk_gated_delta_rule_bwd) rebuilds, while one checkpointed layer runs backward, the state of every 64-token chunk
# (h, value heads x key size x value size, in the 16-bit compute dtype) and its gradient dh beside it
# (common/chunk_delta_h.py), and holds at once w, dw, dq and dk (value heads x key size a token: chunk_o.py
# chunk_bwd_dqkwg expands q and k to the value heads) and u, v_new, dv and the incoming gradient (value heads x value
# size). Measured: Qwen3.5-4B LoRA at 16,384 tokens allocated 227 KB a token more than at 512; the attention-style
# count alone gave 143 KB (round 12, bench/vram_calibration).
_DELTANET_CHUNK = 64
_DELTANET_STATES = 2  # h and dh
_DELTANET_KEY_WIDE = 4  # w, dw, dq, dk
_DELTANET_VALUE_WIDE = 4  # u, v_new, dv, the incoming gradient


def deltanet_saved_bytes(arch: Architecture, s: Shapes) -> float:
    """Bytes a token adds, averaged over the layers, to what a Gated DeltaNet layer saves for backward beyond the
    attention-style count (`token_bytes`): what fla's chunked function saves (_vendored/fla/ops/gated_delta_rule/
    chunk.py, ChunkGatedDeltaRuleFunction.forward): q and k expanded to the value heads (transformers repeats them)
    and l2-normalised, a contiguous v, the intra-chunk matrix A (a 64-wide row per value head, 16-bit:
    chunk_fwd.py), and per value head g and both reciprocal norms (fp32) and beta. Only a trial forward keeps every
    layer's (`router_trial`); measured on Qwen3.5-35B-A3B (round 21): without it the three fresh cells' first
    steps held 3.5-8.3 GiB more than the count."""
    heads, key, value = arch.linear_num_value_heads or 0, arch.linear_key_head_dim or 0, arch.linear_value_head_dim or 0
    layers = deltanet_layers(arch)
    if not (layers and key and s.layers):
        return 0.0
    per_layer = 2.0 * (2 * heads * key + heads * value + heads * _DELTANET_CHUNK) + (4 + 4 + 4 + 2) * heads
    return per_layer * layers / s.layers


def deltanet_backward_bytes(arch: Architecture) -> float:
    """Bytes a token adds to the backward of one Gated DeltaNet layer under fla's chunked kernels (16-bit; 0 for a
    model without such layers): the layer being recomputed is the one that holds them, whatever the depth."""
    heads, key, value = arch.linear_num_value_heads or 0, arch.linear_key_head_dim or 0, arch.linear_value_head_dim or 0
    if not (deltanet_layers(arch) and key):
        return 0.0
    states = _DELTANET_STATES * heads * key * value / _DELTANET_CHUNK
    return 2.0 * (states + _DELTANET_KEY_WIDE * heads * key + _DELTANET_VALUE_WIDE * heads * value)


# --- phases and the allocator ------------------------------------------------------------------


def unsloth_estimate(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, w: Weights,
                      state: TrainingState, rows: RowsStep, multimodal: bool = False) -> CoreEstimate:
    """Unsloth LoRA/QLoRA with its offloaded checkpointing: the measured model (see `unsloth_step`); `rows`: what
    the rows' images or audio add, measured as the peak's growth; `multimodal`: a checkpoint that reads images, which
    loads as *ForConditionalGeneration."""
    step = unsloth_step(arch, s, run, p, state, multimodal)
    held = {
        "weights": w.bytes + w.autocast_copies, "adapters": state.adapters, "gradients": state.grads + state.ddp_buckets,
        "optimizer": state.states + state.temp, "activations": step.activations + step.moe + step.first_step + step.beyond + rows.bytes,
        "logits_and_loss": step.loss,
    }
    allocated = sum(held.values()) + step.fixed
    extra = context_extra_gib(arch, s)
    stack, stack_note = linear_attention_stack_gib(arch, s, run)
    context = k.UNSLOTH_CONTEXT_GIB + extra + stack
    training = allocated + step.gap + context * k.GIB + (k.NCCL_GIB * k.GIB if run.num_gpus > 1 else 0.0)
    float32, fused = float32_load_peak(arch, run, w), expert_fuse_load_peak(arch, s, run, p, w)
    load = max(float32, fused)
    load += context * k.GIB if load else 0.0
    total = max(training, load)
    gib = {name: round(v / k.GIB, 3) for name, v in held.items()}
    total_gib = round(total / k.GIB, 3)
    ground = measured_ground(arch, run.method)
    said = ground_said(arch, run.method)
    grounds = ground_notes(arch, run)
    notes = [*w.notes, *rows.notes, *w.storage_notes, *state.notes, *p.notes, *encoder_decoder_notes(arch, s, run),
             *grounds]
    if s.router_width > 0:
        notes.append(_moe_note(arch, run, step.first_step, max(training - step.first_step, load)))
    if experts_folded(arch, run, state.lora):
        notes.append(folded_note(arch, step.moe))
    if not run.router_aux_loss and s.router_width == 0:
        notes.append("router_aux_loss has no effect here: this model has no router (it is not a MoE).")
    if stack_note:
        notes.append(stack_note)
    if run.method == "full":
        notes.append(FULL_NOTE)
    notes += _family_notes(arch, run, step)
    if float32 and float32 >= fused:
        notes.append(float32_load_note(load, training))
    elif load > training:  # said only where it sets the peak: most MoE loads are far below their step
        unthreaded = max(training, w.bytes + context * k.GIB)
        notes.append(expert_fuse_load_note(load, training, arch.model_type, p.experts_flat_absmax, unthreaded))
    if run.num_gpus > 1:
        notes.append(f"{run.num_gpus} GPUs with {run.sharding}: multi-GPU Unsloth runs are not measured; "
                     "the per-GPU figure places the model as the transformers stack does (ddp: a whole copy on "
                     "each GPU; fsdp and zero3: the weights and their state split across them).")
    if state.paged_note:
        notes.append(state.paged_note)
    notes += [*([] if said else [ground]), VERSION_NOTE]  # a well-measured family says so too, not only in background
    background = ["Peak per GPU is in the backward pass; the breakdown lists what is held at that moment.",
                  *w.background, *state.background, UNSLOTH_MEASURED_NOTE, f"Empirical constants: {k.UNSLOTH_FIT_SOURCE}."]
    return CoreEstimate(
        total_gib=total_gib,
        breakdown=Breakdown(**gib, overhead=round(total_gib - sum(gib.values()), 3)),
        params_b=billions(w.total_params),
        trainable_params_m=round(state.trainable / 1e6, 3),
        assumptions=notes,
        ground=[*grounds, *([] if said else [ground])],
        background=background,
        margin=error_margin(arch, run),
        over_margin=over_margin(arch, run),
        first_step_gib=round(step.first_step / k.GIB, 3) if training >= load else 0.0,
        cache_gib=round((total - max(training - step.cached, load)) / k.GIB, 3),  # given back under a cap
    )


def _family_notes(arch: Architecture, run: RunConfig, step: UnslothStep) -> list[str]:
    """What this family's measured terms add to an answer (Gemma's MLP and masks, kept layer outputs)."""
    notes = []
    if arch.final_logit_softcapping:
        who = ("Gemma with final-logit softcapping" if arch.model_type.startswith("gemma") else
               "Final-logit softcapping, measured on the Gemmas only and counted for this family too")
        notes.append(f"{who}: Unsloth's recomputed layer holds more per token than the layer count "
                     "gives, fitted per unit of the widest MLP on the Gemma 2, 3n and 4 cells (the longest at 65,536 "
                     "tokens); no MoE layer adds it.")
    elif plain_gemma_mlp_on_unsloth(arch.model_type):
        notes.append("Gemma 3: Unsloth's compiled MLP holds more per token than the layer count gives (six MLP-width "
                     "tensors in memory traces of the 4B), fitted per unit of the widest MLP on the Gemma 3 4B and 12B "
                     "cells (the longest at 32,768 tokens).")
    if own := own_layer_scale(arch.model_type):
        kind, scale, how = own
        notes.append(f"This family's recomputed layer is counted at {scale:.2f} times the layer count, its own scale "
                     f"({how}), not the {k.UNSLOTH_LAYER_SCALE[kind]:.2f} fitted over every "
                     f"{'MoE' if kind == 'moe' else kind} family.")
    if step.extra:
        notes.append(f"Our Unsloth runs of this family ({arch.model_type}) held more than the count gives, in ways no "
                     f"memory trace has explained yet: {step.extra / k.GIB:.2f} GiB is added to the overhead here, "
                     "sized from the family's own runs.")
    if varied := varied_rows_note(arch.model_type):
        notes.append(varied)
    if tried := tried_note(arch.model_type):
        notes.append(tried)
    if step.scores:
        notes.append(scores_note(arch.model_type, step.scores, run.bf16))
    if step.kept:
        notes.append(f"Gemma 4 with per-layer inputs: Unsloth keeps every layer's output but the last two on the GPU "
                     f"({step.kept / k.GIB:.2f} GiB of the activations here), as memory traces of E2B and E4B at "
                     "16,384 tokens showed; counted, not fitted.")
    if step.chunk_rows:
        notes.append(f"Unsloth's loss for this family runs in compiled chunks of {step.chunk_rows:,} tokens' logits "
                     "(its forward is rewritten to pass padding-free batching's sequence lengths to the loss, which then "
                     f"leaves the fused-linear path): {step.loss / k.GIB:.2f} GiB, in 'logits and loss', at "
                     f"{k.UNSLOTH_CHUNK_LOSS_BYTES:.2f} bytes a logit fitted to our runs (SmolLM3 and ERNIE 4.5 came in "
                     "up to 19 % above the estimate without it)." + (
                         f" The chunks are sized to this GPU: Unsloth budgets half the memory free at the first step "
                         f"(about {run.loss_budget_gib:.1f} GiB here, counted after loading; at most 4 GiB), so a smaller "
                         "card takes smaller chunks (OLMo 3 7B under an 8 GiB cap: 0.6 GiB less than uncapped)."
                         if run.loss_budget_gib is not None else ""))
    if step.logits:
        notes.append(f"Unsloth's loss for this family runs over the whole logits (its multimodal forward calls the "
                     "language model without labels and computes the loss itself): "
                     f"{step.logits / k.GIB:.2f} GiB in 16 bits and a float32 copy at once, before the layers' backward, "
                     "in 'logits and loss' where they exceed a layer's recompute; the allocator reserved about "
                     f"{full_logits_reserved(run.method):.1f} of them again with {run.method}. Counted from a memory "
                     "trace of Llama 4 Scout cut to 8 layers and sized on its runs (2,048 to 16,384 tokens); "
                     "shorter sequences, or the text-only model, hold far less.")
    if step.copies:
        notes.append(copies_note(arch.vocab_size, step.copies, step.cached))
    if step.block:
        notes.append(f"QLoRA dequantises each MoE layer's fused gate_up experts whole ({step.block / k.GIB:.2f} GiB in 16 "
                     "bits here), and the allocator can keep a second such block reserved: it is counted in the "
                     "overhead. Measured on one model, DeepSeek-V3 cut to 4 layers (a 14.0 GiB block; at 8,192 tokens "
                     "its step reserved 14.67 GiB beyond what it allocated, in a fresh process as after a shorter step, "
                     "at 2,048 and 4,096 tokens 4.35 and 3.12), so the figure may be high by up to that block at short "
                     "steps.")
    if round(step.square / k.GIB, 2):  # said where it shows in the figures (from about 4,096 tokens)
        notes.append(square_note(arch.model_type, arch.hidden_size_per_layer_input, step.square))
    return notes


def context_extra_gib(arch: Architecture, s: Shapes) -> float:
    """What this family's kernels add beside the CUDA context, as measured; a hybrid not measured itself is given
    the most that a measured family running the same linear-attention kernels adds."""
    own = by_family(k.UNSLOTH_CONTEXT_EXTRA_GIB, arch.model_type)
    if own or measured_cells(arch.model_type):
        return own
    kinds = {lin.site for lin in s.linears} & LINEAR_MIXER_FAMILIES.keys()
    return max((by_family(k.UNSLOTH_CONTEXT_EXTRA_GIB, t) for site in kinds for t in LINEAR_MIXER_FAMILIES[site]),
               default=0.0)


def linear_attention_stack_gib(arch: Architecture, s: Shapes, run: RunConfig) -> tuple[float, str | None]:
    """The driver's stack for the spilling kernels of a linear-attention model on the run's GPU (local_memory): fla's
    gated-delta-rule kernels for Gated DeltaNet layers, mamba_ssm's for Mamba-2 mixers; (0, None) for any other."""
    if any(lin.site in DELTANET_LORA for lin in s.linears):
        return deltanet_stack_gib(run.gpu_capability, run.gpu_sms, run.gpu_name)
    if s.mamba_mixers:
        return mamba2_stack_gib(arch.mamba_head, arch.mamba_chunk_size, run.gpu_capability, run.gpu_sms,
                                run.gpu_name)
    return 0.0, None


def float32_load_peak(arch: Architecture, run: RunConfig, w: Weights) -> float:
    """The allocator's peak while Unsloth loads a family it reads in float32 first (families.UNSLOTH_FLOAT32_LOAD):
    every 16-bit parameter held in float32, plus the excess measured on csm-1b's load; 0 for any other."""
    if not float32_load_on_unsloth(arch.model_type, run.bf16):
        return 0.0
    return (w.bytes + w.half_bytes) * (1 + FLOAT32_LOAD_EXCESS)


def expert_fuse_load_peak(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, w: Weights) -> float:
    """The allocator's peak while transformers 5 loads a MoE checkpoint whose experts are stored one by one (as most
    MoE families' Hub checkpoints and transformers' own saves of them are) and fuses each layer's into 3-D parameters:
    one layer's experts held twice in 16 bits, the tensors read and their fused copy, beside the rest of the model as it will be stored.
    Measured on DeepSeek-V3 cut to 4 layers (one MoE layer, 21.0 GiB of experts in 16 bits; round 59): its load peaked
    at 49.91 GiB under NVML in 16 bits (counted 49.96 with the context) and 49.02 quantised on load (counted 47.22),
    above its steps at 2,048 tokens (36.10, 31.60). The loads of the families measured before held 0.1-1.3 layers'
    experts beyond their weights in 16 bits and up to 3.2 quantised on load (Mixtral's cut copy; 1.7 for ERNIE 4.5, where
    this count gives 1.74), all well below their steps. One GPU (0 beyond: how a sharded load places the layers is not
    measured). A family whose checkpoints store the experts fused (families.experts_stored_fused) merges nothing: in
    16 bits its load is counted below the step; quantised, one layer is held in 16 bits while it is quantised
    (gpt-oss-20b held 0.73 of one, Llama 4 Scout's cut copy 0.93). From a pre-quantised upload of a merging family,
    Unsloth stacks the per-expert 4-bit tensors: a share of the stacked experts beyond the weights
    (families.prequantised_load_share)."""
    if not s.routed_layers or run.num_gpus > 1:
        return 0.0
    if p.experts_flat_absmax:  # stacked from a pre-quantised upload's per-expert tensors
        return w.bytes + prequantised_load_share(arch.model_type) * s.expert_params * NF4_FLAT_ABSMAX_BYTES
    layer = _expert_layer_16bit(s)
    quantised = run.method == "qlora" and p.experts_nf4
    stored = layer * NF4_BYTES / 2 if quantised else layer
    if experts_stored_fused(arch.model_type):
        return w.bytes - stored + layer if quantised else 0.0
    return w.bytes - stored + 2 * layer


# Measured once (Qwen3-30B-A3B's pre-quantised upload, QLoRA 1x2048, router aux loss off, fresh processes; one H100,
# round 69): transformers 5.17 copies a pre-quantised checkpoint's tensors to the GPU on four threads ahead of the
# conversions that stack them, and the per-expert pieces sit in the allocator's small pool (10.75 GiB of it at the
# load's peak). With HF_DEACTIVATE_ASYNC_LOAD=1 the small pool peaked at 0.34 GiB, the load at 20.11 GiB under NVML
# (28.37 without), its reserved peak equal to what stayed reserved after it, and the step set the peak at 25.45 GiB;
# the load took 36 s against 50. GLM-4.7-Flash's upload the same way (round 70): its load held 18.93 GiB against 22.11,
# the weights and the context but 0.16 GiB; its step sets its peak either way (23.20 against 23.36 at 2,048 tokens), so
# no answer for it carries the note.
UNTHREADED_NOTE = ("Setting the environment variable HF_DEACTIVATE_ASYNC_LOAD=1 before loading (transformers' threaded "
                   "loading off) removed that excess in our run of Qwen3-30B-A3B's pre-quantised upload: its load held "
                   "the weights alone, 20.1 GiB against 28.4 with the context, and its step, 25.4 GiB, set the peak "
                   "(one H100; measured on that one family).")
UNTHREADED_FAMILY = "qwen3_moe"


def _listed_shares() -> str:
    return ", ".join(f"{family} {share:.2f}" for family, share in PREQUANTISED_EXPERT_LOAD_SHARES.items())


def expert_fuse_load_note(load: float, training: float, model_type: str, prequantised: bool,
                          unthreaded: float) -> str:
    """Why the load sets the peak; for a pre-quantised upload also what the peak would be with transformers' threaded
    loading off (`unthreaded`: the weights as stored, or the step where it is higher)."""
    peak = (f"Loading sets the peak here, about {load / k.GIB:.1f} GiB with the CUDA context (the training step alone "
            f"would be {training / k.GIB:.1f} GiB): ")
    if prequantised:
        family, share = family_of(model_type), prequantised_load_share(model_type)
        measured = (f"measured on this family, {family}" if family in PREQUANTISED_EXPERT_LOAD_SHARES else
                    "the largest share measured, as this family's load was not measured")
        unmeasured = "" if family == UNTHREADED_FAMILY else " (not measured on this family)"
        return (peak + "the pre-quantised upload stores each expert's 4-bit weights apart, and Unsloth stacks them "
                f"while loading: {share:.2f} of the stacked experts' bytes is counted beyond the weights, {measured} "
                f"(shares counted by family, from our runs: {_listed_shares()}). " + UNTHREADED_NOTE
                + f" Counted so here, the peak would be about {unthreaded / k.GIB:.1f} GiB{unmeasured}.")
    stored_fused = experts_stored_fused(model_type)
    if stored_fused:
        return peak + ("this model's checkpoints store each layer's experts fused, and quantising them on load holds "
                       "one layer's in 16 bits at a time (gpt-oss-20b held 0.7 of one, Llama 4 Scout's cut copy 0.9: "
                       "never the peak in our runs).")
    return peak + ("transformers 5 reads a MoE checkpoint's experts one by one and fuses each layer's into one tensor, "
                   "so one layer's experts are held twice in 16 bits while it loads. Measured where it sets the peak "
                   "once, on DeepSeek-V3 cut to 4 layers: its loads came within 4 % of this count, the 4-bit one under "
                   "it; Mixtral's cut copy, quantised on load, held 3.2 layers' experts beyond its weights where this "
                   "counts 1.7, below its step.")


def float32_load_note(load: float, training: float) -> str:
    where = "sets the peak" if load > training else "stays below the training step's peak"
    return (f"Unsloth loads this family in float32 and casts it back afterwards: the load, about {load / k.GIB:.1f} GiB "
            f"with the CUDA context, {where} (measured once, on csm-1b's 16-bit load; the training step alone would be "
            f"{training / k.GIB:.1f} GiB).")


def square_note(model_type: str, per_layer_input: int | None, square: float) -> str:
    """What the answer says of the boolean seq_len^2 masks counted for this family (families.masks_held_on_unsloth)."""
    n = masks_held_on_unsloth(model_type, per_layer_input)
    said = (f"{n} boolean seq_len^2 attention mask{'s' if n > 1 else ''} (transformers' sdpa path) still held at "
            f"Unsloth's peak ({square / k.GIB:.2f} GiB of the activations here): traced on Gemma 4 (E2B, E4B, 12B); "
            "counted, not fitted. It grows with the square of the sequence length.")
    if reserved := masks_reserved_on_unsloth(model_type):
        said += (f" The allocator was measured reserving about {reserved:.1f} of it again beyond its usual share "
                 "(Gemma 4 12B at 65,536 and 98,304 tokens), counted in the overhead.")
    return said


def scores_note(model_type: str, scores: float, bf16: bool = True) -> str:
    held = f"{scores / k.GIB:.2f} GiB of the activations here, growing with the square of seq_len"
    if model_type == "gemma2":
        per_score, saved = unsloth_score_bytes(model_type, bf16=bf16), UNSLOTH_SCORES_SAVED_SHARE[model_type]
        measured = ("measured on Gemma-2-9B from 2,048 to 8,192 tokens, QLoRA and LoRA, one and two rows" if bf16 else
                    f"in fp16, where bf16 holds {unsloth_score_bytes(model_type):g}: measured on Gemma-2-9B QLoRA "
                    "without bf16 from 1,024 to 8,192 tokens on an emulated T4 and V100, not traced; the split "
                    "between rows is bf16's")
        return (f"Softcapped attention (Gemma 2): without flash-attn 2.6.3 or later installed, which Unsloth's install "
                f"does not bring, Unsloth computes every head's seq_len x seq_len scores in the layer it recomputes, "
                f"{per_score:g} bytes a score and head ({measured}). Each row keeps {saved:.0%} of those bytes for the "
                f"backward, and the rows differentiated together (as many as keep a chunk under 2^31 scores) make the "
                f"rest. Held at the peak: {held}. With flash-attn it uses flash-attn's softcapping kernel instead, "
                "which this figure does not model.")
    if family_of(model_type) in UNSLOTH_FP32_SQUARE_BYTES:
        return (f"Gemma 3 in float32 (a GPU without bf16): Unsloth 2026.10.9 packs the micro-batch's rows into one "
                f"sequence, and its step holds about {unsloth_score_bytes(model_type, True):g} bytes per head for "
                f"every pair of the micro-batch's tokens: {held}, and with the number of rows; beside it, only "
                f"{UNSLOTH_ATTENTION_PEAK_LAYER_SHARE:.0%} of the recomputed layer's other activations are counted, as "
                "the peak comes late in the layer's backward, and the allocator reserves about "
                f"{UNSLOTH_FP32_SQUARE_RESERVED_SHARE:.0%} of the square beyond it (measured on Gemma 3 270M, 4B and "
                "12B on an emulated T4, 875 to 7,000 tokens a micro-batch; the same rows in bf16 hold none of it). "
                "Fewer or shorter rows per micro-batch, with gradient accumulation for the same batch, cut it by the "
                "square.")
    return (f"Eager attention (Gemma 3n): Unsloth 2026.10.9 runs this family's attention eagerly whatever is "
            f"installed, so the layer it recomputes holds every head's seq_len x seq_len scores: {held} (traced on "
            f"gemma-3n-E4B QLoRA at 8,192 tokens, {unsloth_score_bytes(model_type):g} bytes a score; measured from "
            "1,024 to 8,192 tokens).")


FULL_NOTE = ("Full fine-tuning on Unsloth (full_finetuning=True) was measured on six dense models (Llama-3.2-1B at "
             "512 to 8,192 tokens, one row or four; Llama-3.2-3B at 2,048 and 8,192; Qwen3-4B at 2,048 to 16,384; "
             "Qwen2.5-7B at 4,096; Mistral-7B at 2,048; Qwen3-8B at 2,048 and 8,192): its peak grows little with the "
             f"tokens, and the allocator reserves {k.UNSLOTH_FULL_GRAD_RESERVED_SHARE:.0%} of the gradients' size beyond them (fitted; the three 7-8B "
             "models reserved less, and came out 4-5.5 % below this figure). Other models carry that over, so leave "
             "more room.")

# Which versions the Unsloth figures hold for (issue 11: the answer depends on them; Gemma 4's experts, for one).
VERSION_NOTE = f"Unsloth figures: {k.UNSLOTH_FIT_SOURCE}; other Unsloth, transformers or torch versions can differ."

UNSLOTH_MEASURED_NOTE = (
    "Unsloth stack, measured: its loader, LoRA wrapper with offloaded gradient checkpointing, and trl's SFTTrainer "
    "with adamw_8bit, run on an H200 (Unsloth 2026.10.9, transformers 5.17, trl 1.15, bitsandbytes 0.50.2, torch "
    "2.11); about one layer's activations stay on the GPU whatever the depth, and the chunked loss is bounded. "
    "The cells' rows were all seq_len tokens long. The three runs measured on rows of varied length reserved more "
    "than their fixed-length shape, because the allocator's cache fragments as shapes change: Llama-3.2-3B QLoRA "
    "(2 rows of up to 2,048 tokens, 60 steps) 0.21 GiB (5 %) more; Gemma 3 270M LoRA in float32 on a T4 (8 rows of "
    "up to 875 tokens, 100 steps), whose step holds a square of the micro-batch's tokens, 4.09 GiB (51 %) more; and "
    "LFM2.5-1.2B LoRA on Unsloth's padded path (2 rows of up to 2,048 tokens, 60 steps) 4.6 GiB (107 %) more than "
    "counted and still growing on an 80 GB card, yet with its allocator capped at 4 GiB it ran to the end 0.25 GiB "
    "(6 %) above the count: cache the allocator gives back before it fails. Other Unsloth, transformers or torch "
    "versions can differ."
)


def _trial_ground(family: str) -> str:
    said = ROUTER_TRIAL_MEASURED.get(family)
    return (f"For this family: {said}." if said else
            f"Not measured for this family; counted as for Qwen3-MoE ({ROUTER_TRIAL_MEASURED['qwen3_moe']}).")


def _moe_note(arch: Architecture, run: RunConfig, first_step: float, without: float) -> str:
    """without: the peak with the router aux loss off."""
    family = family_of(arch.model_type)
    if first_step:
        return (f"MoE on Unsloth: the first training step of a fresh process holds {first_step / k.GIB:.1f} GiB more than "
                "later ones, counted here because every run starts with it: Unsloth's per-layer compile runs each layer "
                "once more with gradients, and the router's auxiliary loss, which trl turns on for this family, keeps "
                f"those trials until the first backward; it grows with the tokens a step. {_trial_ground(family)} "
                f"With {AUX_LOSS_OFF}, the peak is {without / k.GIB:.1f} GiB ({ROUTER_AUX_OFF_MEASURED}; the "
                f"'router_aux_loss' option estimates that run); {BLOCK_COMPILE_OFF}.")
    if block_compile_skipped(family):
        return ("MoE on Unsloth: Unsloth does not compile this family's layers one by one, so the first step of a fresh "
                "process holds no more than later ones (measured on gpt-oss-20b).")
    if router_trial_kept(arch.model_type, arch.router_aux_loss_coef) and not run.router_aux_loss:
        return (f"MoE on Unsloth: {AUX_LOSS_OFF}, so the first step of a fresh process holds no more than later ones "
                f"({ROUTER_AUX_OFF_MEASURED}).")
    if trial_kept(arch, run):
        return ("MoE on Unsloth: the first step of a fresh process keeps each layer's trial forward here too, but at "
                "this length it holds less than the LoRA gradients and optimizer states it does not hold yet (which "
                "come later), so the peak is a later step's.")
    if router_trial_kept(arch.model_type, None):  # the family's default keeps one: this config's coefficient is 0
        return ("MoE on Unsloth: the first step of a fresh process holds no more than later ones: this model's config "
                "sets router_aux_loss_coef to 0, so trl turns no router auxiliary loss on.")
    return ("MoE on Unsloth: the first step of a fresh process holds no more than later ones: this model's code "
            "computes no router auxiliary loss for trl to turn on.")


# Unsloth 2026.10.9's offload_embedding="auto" (unsloth/models/_utils.py offload_embedding_if_tight, after the
# load and again in get_peft_model) moves the input-side embeddings lm_head does not share to host RAM when the
# memory left after loading is below its own estimate of a step's needs (unsloth_zoo/block_swap.py
# estimate_training_reserve_bytes): 48 bytes per token per hidden unit, fp32 logits of up to 2,048 rows,
# every trainable parameter at its size plus 12 bytes (gradient, AdamW's two moments, foreach temporary),
# 1/16 more for fragmentation and 256 MiB; tokens are max_seq_length x 1.
_RESERVE_BYTES_PER_TOKEN_HIDDEN = 48
_RESERVE_LOGIT_ROWS = 2048
_RESERVE_FRAGMENTATION = 1 / 16
_RESERVE_SAFETY_BYTES = 256 * 2**20


def unsloth_reserve_gib(arch: Architecture, seq_len: int, trainable_params: float) -> float:
    """What Unsloth 2026.10.9 wants free after loading before it leaves the input embedding on the GPU."""
    base = (seq_len * arch.hidden_size * _RESERVE_BYTES_PER_TOKEN_HIDDEN
            + min(seq_len, _RESERVE_LOGIT_ROWS) * arch.vocab_size * 4 + trainable_params * (4 + 12))
    return (base * (1 + _RESERVE_FRAGMENTATION) + _RESERVE_SAFETY_BYTES) / k.GIB


def unsloth_offloads(arch: Architecture, run: RunConfig, core: CoreEstimate, usable_gib: float) -> bool:
    """Whether Unsloth would move the untied input embedding to host RAM for this run (`core`: its estimate with the
    embedding on the GPU) on a card with `usable_gib` after the driver's share: only when what is left after loading
    (weights and adapters) is below Unsloth's own reserve for the step. Unsloth reads what is left from the card's free
    memory (`usable_cuda_bytes`), which the CUDA context has already taken."""
    if run.stack != "unsloth" or arch.tie_word_embeddings or run.method == "full":
        return False
    return _left_after_loading(core, usable_gib) < unsloth_reserve_gib(arch, run.seq_len, core.trainable_params_m * 1e6)


def _left_after_loading(core: CoreEstimate, usable_gib: float) -> float:
    """What Unsloth reads as free once the model is loaded (mem_get_info: the CUDA context has taken its share)."""
    return usable_gib - k.CUDA_CONTEXT_GIB - core.breakdown.weights - core.breakdown.adapters


def unsloth_loss_budget_gib(run: RunConfig, core: CoreEstimate, usable_gib: float) -> float | None:
    """Unsloth's budget for one chunk of its fallback loss on a card with `usable_gib` after the driver's share: half
    the memory free when the first step reaches the loss (unsloth_zoo tiled_mlp._default_target_gb, read once), or
    None where that is the 4 GiB cap or more. Free is counted after loading only; what the forward holds by then is
    left out, so the budget, and the chunk, can only come out larger than Unsloth's (the safe side)."""
    if run.stack != "unsloth":
        return None
    budget = max(0.0, _left_after_loading(core, usable_gib)) / 2
    return round(budget, 3) if budget < UNSLOTH_CHUNK_BUDGET_GIB else None
