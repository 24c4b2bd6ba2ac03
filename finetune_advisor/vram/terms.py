"""The terms of a run's peak memory, each with the sentences that explain it (pure): `precision` (the dtype
of 16-bit tensors), `weights` (in their storage, sharded or not), `training_state` (adapters, gradients,
optimizer states), `activations` (what the backward pass keeps, and one layer's recompute) and `loss`
(the logits and loss buffers). `estimator` adds them up; `unsloth_stack` does for Unsloth's measured path."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.activations import Coefficients, coefficients, encoder_token_bytes, token_bytes
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.families import (experts_16bit_in_older_unsloth, experts_stored_fused, extras_kind,
                                           forced_float32, quantised_vision_linears, sixteen_bit_step_note,
                                           unclaimed_expert_stacks, unsloth_16bit_sites)
from finetune_advisor.vram.run import RunConfig
from finetune_advisor.vram.shapes import DELTANET_LORA, FUSED_PARTS, Linear, Shapes, shapes

# NF4 with double quantisation (bitsandbytes defaults for QLoRA): 4 bits per weight, one 8-bit
# absmax per 64-weight block, and one fp32 absmax per 256 of those.
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
# A pre-quantised upload's per-expert NF4 tensors, stacked on load by unsloth_zoo 2026.10.9 (temporary_patches/
# moe_utils_bnb4bit.py, PR 856: "a single stacked Params4bit with a flat fp32 absmax"): 4 bits per weight and one fp32
# absmax per 64-weight block, the double quantisation undone. Measured (round 62b): Qwen3-30B-A3B loaded from such a
# save held 1.22 GiB more than quantised on load, its parameters' bytes the same; this counts 1.26 for its 29.0B
# expert weights.
NF4_FLAT_ABSMAX_BYTES = 0.5 + 4 / 64
# bitsandbytes 8-bit Adam: two 1-byte states plus an fp32 absmax per 256-value block each.
ADAM_8BIT_BYTES = 2 + 2 * 4 / 256
# What an -unsloth-bnb-4bit upload keeps in 16 bits where neither its list of skipped modules nor its size is known,
# as a share of its 4-bit linears' NF4 bytes: Unsloth's "under 10 % more VRAM" (unsloth.ai/blog/dynamic-4bit). The
# seven uploads whose contents the catalog knows keep 7 % to 87 % (Llama 3.1 8B and DeepSeek-R1-Distill-Llama-8B one
# MLP each, 7 %; Llama 3.2 11B Vision 15 %; phi-4 18.5 %; and Qwen2.5's, 44 % to 87 %), while Unsloth's notebooks that
# print the memory held after loading a 24-70B dynamic upload (Llama 3.3 70B, Qwen3-32B, Magistral 24B, Gemma 4 31B,
# gpt-oss-120b; bench/vram_accuracy/public_unsloth.json) imply 2 % to 7 % over our other weights. No one share fits
# both: an architecture whose every known upload keeps more counts the least of them (resolve._kin), others this,
# and the answer says the range, which a test holds to the catalog.
DYNAMIC_4BIT_EXTRA = 0.10
DYNAMIC_4BIT_RANGE = "7% to 87%"
DYNAMIC_4BIT_NOTE = (f"counted as {DYNAMIC_4BIT_EXTRA:.0%} more than its 4-bit layers take (Unsloth's figure); the "
                     f"uploads whose contents are known keep {DYNAMIC_4BIT_RANGE}, and this one's is not known, so it "
                     "may be more.")
LISTED_16BIT = "the checkpoint's own list of skipped modules is counted (its config.json's llm_int8_skip_modules)."


@dataclass(frozen=True)
class Kept16bit:
    """Decoder-linear parameters a 4-bit checkpoint keeps in 16 bits, and what the count rests on (said in answers)."""

    params: int
    basis: str = LISTED_16BIT


def kept_share(kept: Kept16bit, s: Shapes) -> float:
    """What an upload keeps in 16 bits as a share of its linears' NF4 bytes (the flat share's measure)."""
    return kept.params * (2 - NF4_BYTES) / (s.linear_params * NF4_BYTES)


def kept_at_share(share: float, s: Shapes) -> int:
    """The weights in 16 bits that a share of the model's linears' NF4 bytes amounts to (`kept_share`'s inverse)."""
    return round(share * s.linear_params * NF4_BYTES / (2 - NF4_BYTES))


def kept_by_size(size_gb: float, bnb_4bit_size_gb: float) -> Kept16bit:
    """What an -unsloth-bnb-4bit upload keeps in 16 bits, from its size beside the -bnb-4bit upload's: each weight it
    keeps takes 2 bytes instead of NF4's. On phi-4, whose list is known too, the two counts agree within 0.3 %."""
    extra = (size_gb - bnb_4bit_size_gb) * 1e9
    return Kept16bit(round(extra / (2 - NF4_BYTES)), (
        f"counted from its size, {size_gb:g} GB against {bnb_4bit_size_gb:g} GB for the -bnb-4bit upload (the Hub's "
        f"file lists): {extra / 2**30:.2f} GiB more, about {extra / (2 - NF4_BYTES) / 1e9:.2f}B weights in 16 bits."))


# --- precision ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Precision:
    fp32_compute: bool  # no bf16, and Unsloth's step for this family runs in float32 (fp32 activations)
    fp32_master: bool  # fp32 master weights (asked for, or full fine-tuning in fp16)
    half: float  # bytes of a 16-bit weight (fp16 or bf16)
    notes: list[str]
    experts_nf4: bool = True  # QLoRA quantises the routed experts (transformers 5 keeps them as 3-D parameters)
    sites_16bit: tuple[str, ...] = ()  # input sites of linears QLoRA leaves 16-bit (Unsloth's Mamba mixers)
    tower_nf4: float = 0.0  # weights of a vision tower QLoRA quantises (beyond the text config's parameters)
    extras: str = "vision"  # what the parameters beyond the text config are (families.extras_kind)
    # QLoRA from a pre-quantised upload of a family whose checkpoints store experts one by one (families.
    # experts_stored_fused is False): Unsloth stacks them with a float32 absmax (NF4_FLAT_ABSMAX_BYTES)
    experts_flat_absmax: bool = False


# Round 17's autocast probe (bench/throughput/autocast_probe.py): the same QLoRA step on transformers + peft with and
# without bf16 autocast. Quoted by the memory note here and the time note in plan.timing.
AUTOCAST_PROBE = "Qwen3-4B and Llama-3.2-1B QLoRA at 2 x 4096 tokens on one H200"


# What transformers-stack QLoRA answers say about autocast, with the measurements behind them (round 18: 12 QLoRA
# cells with bf16 autocast on one H200, bench/vram_calibration/data/transformers_1gpu_autocast.jsonl).
NO_AUTOCAST_QLORA = ("Counted without autocast; with bf16=True (Trainer, TRL) pass autocast: such runs measured up to "
                     "11 % above this figure at 2k tokens, 13-32 % below a plain run at 8k.")
PLAIN_LOOP_QLORA = ("Without autocast, as our calibration trains, the residual stream and attention run in fp32 too. Under "
                    "bf16 autocast (Trainer or TRL's SFTConfig with bf16=True, TRL's default), four models held 0.5-1.0 GiB "
                    "more at 2,048 tokens (a bf16 copy of the fp32 lm_head) and 13-32 % less at 8,192 tokens a step (bf16 "
                    "flash attention).")
AUTOCAST_QLORA = ("Under bf16 autocast (Trainer or SFTConfig with bf16=True): the residual stream and norms stay fp32, "
                  "every projection and attention runs in bf16 (flash kernel), and autocast holds a bf16 copy of the fp32 "
                  "lm_head from its matmul to its backward.")


# Round 18 (bench/vram_calibration/holdout/measured-unsloth-round18.jsonl): gpt-oss-20b from a split-expert -bnb-4bit
# save, the layout its Unsloth upload has, on an H200 emulating a T4.
GPT_OSS_EXPERT_LORA_NOTE = (
    "gpt-oss on Unsloth 2026.10.9: the MLP names put an adapter on every expert of every layer (gpt-oss-20b: 92.5M "
    "trainable at rank 8). With them, its QLoRA r 8 at 1,024 tokens ran out of memory on an emulated T4; with LoRA on q_proj, "
    "k_proj, v_proj and o_proj only (what Unsloth's 2025.8 T4 notebook trained: 4.0M) it fit with 14.29 GiB reserved of "
    "14.56, marginal on a real T4, whose CUDA context shares that memory.")


def targets_mlp(run: RunConfig) -> bool:
    """Whether LoRA targets MLP projections: the names by which Unsloth also puts adapters on a MoE's experts."""
    return bool({"gate_proj", "up_proj", "down_proj"} & set(run.target_modules))


def _without_bf16(forced: bool, fp32_compute: bool) -> str:
    if fp32_compute:
        return " Unsloth trains this family without fp16 autocast (it overflows fp16), so its activations and loss are fp32."
    if forced:
        return (" Unsloth trains this family without fp16 autocast (it overflows fp16), in its fp16 weights' type: "
                "measured on an emulated T4 (Gemma 3n E4B QLoRA, 1,024 to 4,096 tokens), its step holds what its bf16 "
                "step holds.")
    return " Training in fp16 mixed precision."


def precision(arch: Architecture, run: RunConfig, float32_without_bf16: bool | None) -> Precision:
    """Unsloth keeps the weights of its float32-forced families in fp16 on GPUs without bf16, but trains
    them without fp16 autocast, so their activations and loss are fp32 (unsloth_zoo patching_utils;
    unsloth rl.py "Switching to float32 training"), but for the families measured holding their 16-bit step there
    (families.UNSLOTH_16BIT_STEP_WITHOUT_BF16): their matmuls run in fp16 too."""
    forced = not run.bf16 and run.stack == "unsloth" and (
        forced_float32(arch.model_type) if float32_without_bf16 is None else float32_without_bf16)
    fp32_compute = forced and sixteen_bit_step_note(arch.model_type) is None
    fp32_master = run.full_fp32_master or (run.method == "full" and not run.bf16)
    notes = []
    if fp32_master:
        notes.append("Full fine-tuning with fp32 master weights; autocast keeps a bf16 copy of each weight for the backward pass."
                     if run.bf16 else "Without bf16, full fine-tuning keeps fp32 master weights (fp16 mixed precision).")
    if not run.bf16:
        notes.append("No bf16 on this GPU (compute capability below 8.0): weights in fp16." + _without_bf16(forced, fp32_compute))
    # bitsandbytes quantises nn.Linear only: the transformers stack leaves 3-D expert parameters in 16-bit;
    # the calibrated Unsloth quantises them (older versions did not, for some families), except the layouts its
    # expert packer does not claim (families.UNCLAIMED_EXPERT_STACKS).
    unclaimed = unclaimed_expert_stacks(arch.model_type)
    experts_nf4 = run.stack == "unsloth" and unclaimed is None
    older = experts_16bit_in_older_unsloth(arch.model_type)
    if run.method == "qlora" and arch.is_moe and unclaimed and run.stack == "unsloth":
        notes.append(f"QLoRA on Unsloth 2026.10.9: this model's routed experts ({unclaimed} stacks) stay 16-bit: "
                     "Unsloth's 4-bit expert packer takes gate_up_proj / down_proj stacks only, and bitsandbytes "
                     "quantises nn.Linear layers only (read from the code; Nemotron-3-Nano QLoRA at 2,048 tokens, "
                     "measured since, peaked at 67.1 GiB, 0.7 % under the estimate); QLoRA saves little here.")
    elif run.method == "qlora" and arch.is_moe and not experts_nf4:
        notes.append("QLoRA: the routed experts stay 16-bit (bitsandbytes quantises nn.Linear layers only, and this "
                     "model keeps its experts as 3-D parameters); only the other linear layers are 4-bit.")
    elif run.method == "qlora" and arch.is_moe and older:
        more = shapes(arch).expert_params * (2 - NF4_BYTES) / 2**30
        notes.append(f"QLoRA: the routed experts are 4-bit in the Unsloth version this is calibrated for (2026.10.9); "
                     f"{older} left them 16-bit: about {more:.0f} GiB more. Use a current Unsloth.")
    sites = unsloth_16bit_sites(arch.model_type) if run.stack == "unsloth" and run.method == "qlora" else ()
    kept = [lin.name for lin in shapes(arch).linears if lin.site in sites] if sites else []
    if kept:
        notes.append(f"QLoRA on Unsloth: the Mamba mixers' {' and '.join(kept)} stay 16-bit (Unsloth keeps them out of "
                     "bitsandbytes for its Mamba kernels).")
    if arch.model_type == "gpt_oss" and run.stack == "unsloth" and run.method != "full" and targets_mlp(run):
        notes.append(GPT_OSS_EXPERT_LORA_NOTE)
    tower = quantised_vision_linears(arch.model_type) if run.stack == "unsloth" and run.method == "qlora" else 0.0
    flat = (run.method == "qlora" and arch.is_moe and experts_nf4 and run.storage != "16bit"
            and not experts_stored_fused(arch.model_type))
    return Precision(fp32_compute, fp32_master, 2.0, notes, experts_nf4, sites, tower, extras_kind(arch.model_type),
                     flat)


# --- weights -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    bytes: float  # per GPU, sharding applied
    total_params: float  # the model's parameters (the config's, or the catalog's count)
    layer_bytes: float  # one decoder layer, as FSDP gathers it
    root_bytes: float  # embeddings, lm_head and final norm: FSDP's root unit
    autocast_copies: float  # bf16 copies of fp32 master weights
    notes: list[str]  # parameters the config does not describe
    storage_notes: list[str]  # how these weights are stored, where it is particular to this run
    background: list[str]  # how weights are stored for every run of this method and stack
    half_bytes: float = 0.0  # of `bytes`: the parameters held in 16 bits


def quantised_params(s: Shapes, p: Precision) -> int:
    """The linear weights a QLoRA load stores in NF4: every block linear (an encoder's included) but the 3-D expert
    stacks it leaves 16-bit and the sites Unsloth keeps out of bitsandbytes (`precision`)."""
    return s.linear_params - (0 if p.experts_nf4 else s.expert_params) - s.site_params(p.sites_16bit)


def weights(s: Shapes, run: RunConfig, p: Precision, params_total: float | None, skip: Kept16bit | None) -> Weights:
    """The model's parameters in their storage: NF4 for QLoRA's linear layers, else 16 or 32 bits."""
    extra, tower, notes = _undescribed(s, p, params_total)
    total_params = s.total_params + extra
    shrink = 1.0
    if params_total and s.total_params > 1.1 * params_total:
        shrink, total_params = params_total / s.total_params, params_total
        notes.append(f"The config's fields add up to {s.total_params / 1e9:.0f}B parameters but the model has "
                     f"{params_total / 1e9:g}B (e.g. MoE layers alternating with dense ones); weights are scaled down to match.")
    storage: list[str] = []
    background: list[str] = []
    if run.method == "qlora":
        held, half, layer_bytes, root_bytes = _qlora_storage(s, run, p, skip, extra, tower, notes, storage, background)
    else:
        per_param = 4.0 if p.fp32_master else p.half
        held = (s.total_params + extra) * per_param  # scaled by `shrink` below, like the QLoRA branch
        half = held if per_param == p.half else 0.0
        layer_bytes, root_bytes = s.layer_params * per_param, _root_params(s) * per_param
        if run.storage != "16bit":
            storage.append(f"A 4-bit checkpoint cannot be trained with {run.method}; its 16-bit original is assumed.")
    held, half = held * shrink, half * shrink
    if run.offload_embedding and not s.tied:
        moved = (s.embedding_params - s.ple_params) * p.half
        held, half = held - moved, half - moved
        storage.append("Unsloth moves the input embedding to host RAM when the GPU is tight (offload_embedding='auto'): "
                       "it is not counted, and needs that much CPU RAM instead.")
    n = run.num_gpus
    if run.sharded:
        # Each GPU keeps 1/n, plus the root unit (FSDP does not reshard it after forward) and two
        # decoder layers gathered (the current one and the prefetched one).
        held, half = held / n + root_bytes * (1 - 1 / n) + 2 * layer_bytes, half / n
    autocast = total_params * 2.0 / (n if run.sharded else 1) if run.full_fp32_master else 0.0
    if run.autocast and run.method == "qlora" and run.stack == "transformers":
        autocast += s.vocab * s.hidden * 2.0  # the fp32 lm_head's bf16 copy, held from its matmul to its backward
    return Weights(held, total_params, layer_bytes, root_bytes, autocast, notes, storage, background, half)


def _root_params(s: Shapes) -> int:
    """FSDP's root unit: embeddings, lm_head and the final norm."""
    return s.embedding_params + s.head_params + s.hidden


def _undescribed(s: Shapes, p: Precision, params_total: float | None) -> tuple[float, float, list[str]]:
    """(parameters the text config does not describe, those of them a QLoRA load stores in NF4, the note). Such
    parameters (a vision tower: Gemma 4 26B-A4B's 0.57B, 2 % of it, measured 16-bit under Unsloth) are frozen 16-bit
    weights, whatever their share, except the tower linears a family's QLoRA load quantises
    (families.QUANTISED_VISION_LINEARS); a large share is said."""
    extra = max(0.0, (params_total or 0) - s.total_params)
    tower = min(extra, p.tower_nf4)
    if extra <= 0.03 * s.total_params:
        return extra, tower, []
    what = "audio parts: a codec and an audio decoder" if p.extras == "audio" else "e.g. a vision tower"
    return extra, tower, [
        f"{extra / 1e9:.2f}B parameters the text config does not describe ({what}) "
        + (f"are counted as frozen weights: {tower / 1e9:.2f}B of them in NF4 (Unsloth's QLoRA load quantises this "
           "family's vision tower, measured on Llama 3.2 11B Vision), the rest 16-bit."
           if tower else "are counted as frozen 16-bit weights.")]


def _qlora_storage(s: Shapes, run: RunConfig, p: Precision, skip: Kept16bit | None, extra: float, tower: float,
                   notes: list[str], storage: list[str], background: list[str]) -> tuple[float, float, float, float]:
    """QLoRA's weights: (bytes held, of them 16-bit, one decoder layer's bytes, the root unit's bytes); what is
    particular to the run is added to `notes` and `storage`, what holds for every such run to `background`."""
    quantized = quantised_params(s, p)
    kept = min(skip.params if skip else 0, quantized)
    # prepare_model_for_kbit_training casts every parameter left in 16-bit to fp32.
    kept_bytes = 4.0 if run.stack == "transformers" else p.half
    unquantised = s.total_params - quantized + kept
    held = (quantized - kept + tower) * NF4_BYTES + unquantised * kept_bytes + (extra - tower) * p.half
    half = ((unquantised if kept_bytes == p.half else 0.0) + extra - tower) * p.half
    if run.storage == "unsloth-bnb-4bit" and skip is None:
        held += DYNAMIC_4BIT_EXTRA * quantized * NF4_BYTES
    if p.experts_flat_absmax:
        scales = s.expert_params * (NF4_FLAT_ABSMAX_BYTES - NF4_BYTES)
        held += scales
        storage.append("A pre-quantised upload stores each expert's weights as a tensor of its own; Unsloth stacks them "
                       f"on load with a float32 scale per 64 weights, not double-quantised ({scales / 2**30:.2f} GiB "
                       "more than a quantise-on-load run holds; measured on Qwen3-30B-A3B).")
    background.append("QLoRA: decoder linear layers in NF4 with double quantisation (about 0.52 bytes per weight).")
    if run.stack == "transformers":
        background.append("transformers stack: prepare_model_for_kbit_training casts embeddings, lm_head and norms to "
                          "fp32. " + (AUTOCAST_QLORA if run.autocast else PLAIN_LOOP_QLORA))
        if not run.autocast:  # the figure for the common Trainer(bf16=True) run differs both ways: always said
            notes.append(NO_AUTOCAST_QLORA)
    if run.storage == "unsloth-bnb-4bit":
        storage.append("-unsloth-bnb-4bit keeps some layers in 16-bit: " + (skip.basis if skip else DYNAMIC_4BIT_NOTE))
    return held, half, s.layer_params * NF4_BYTES, _root_params(s) * kept_bytes


# --- adapters, gradients, optimizer ------------------------------------------------------------


@dataclass(frozen=True)
class TrainingState:
    trainable: float
    adapters: float  # per GPU
    grads: float  # per GPU, once the backward pass has produced them all
    states: float  # optimizer states held by PyTorch's allocator
    temp: float  # the optimizer step's temporaries
    ddp_buckets: float  # DDP's gradient buckets
    root_grads: float  # FSDP full fine-tuning: the root unit's unsharded gradient
    lora: tuple[Linear, ...]
    notes: list[str]
    background: list[str]
    paged_note: str | None


def _fused_targets_note(s: Shapes, run: RunConfig, lora: tuple[Linear, ...]) -> list[str]:
    """What a fused layout (shapes.FUSED_PARTS) leaves of the run's targets, said when it leaves some out."""
    missed = sorted({name for lin in s.linears for name in FUSED_PARTS.get(lin.name, ()) if name in run.target_modules})
    if not missed:
        return []
    fused = " and ".join(sorted({lin.name for lin in s.linears if lin.name in FUSED_PARTS}))
    return [f"Its checkpoint holds {fused} as fused matrices, which the target names {', '.join(missed)} do not reach: "
            f"LoRA sits on {', '.join(lin.name for lin in lora) or 'no layer'} only, and is counted so."]


def training_state(s: Shapes, run: RunConfig, p: Precision, total_params: float) -> TrainingState:
    """What training adds: LoRA adapters (or every weight for full), their gradients and Adam's states."""
    notes: list[str] = []
    background: list[str] = []
    if run.method == "full":
        lora: tuple[Linear, ...] = ()
        trainable = total_params
        adapter_bytes, grad_bytes = 0.0, (4.0 if p.fp32_master else p.half)
    else:
        unsloth = run.stack == "unsloth"
        lora = s.lora_linears(run.target_modules, experts=unsloth, by_kind=unsloth)
        trainable = s.lora_params(run.lora_rank, lora, fused_experts=unsloth)
        # peft and Unsloth both create the adapters in fp32 (measured: 4 bytes per trainable parameter).
        adapter_bytes = grad_bytes = 4.0
        background.append(f"LoRA rank {run.lora_rank} on {', '.join(run.target_modules)}; adapters and their gradients in fp32.")
        notes.extend(_fused_targets_note(s, run, lora))
        if any(lin.site in DELTANET_LORA for lin in lora):
            notes.append("Unsloth picks LoRA targets by kind of module: with attention targeted it also reaches the "
                         "Gated DeltaNet projections (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a, out_proj).")
        if unsloth and s.router_width > 0 and targets_mlp(run):
            notes.append("MoE on Unsloth: LoRA reaches the routed experts too (one adapter pair on the fused gate_up "
                         "matrix, one on down_proj), hundreds of millions of fp32 trainable parameters on 30B-class models.")
        if s.router_width > 0 and run.stack == "transformers":
            notes.append("MoE on transformers: routed experts are 3-D parameters, so LoRA and 4-bit quantisation skip "
                         "them and they stay in 16-bit (fp32 after prepare_model_for_kbit_training).")
    state_bytes, step_temp = _optimizer_bytes(run.optimizer, grad_bytes)
    n = run.num_gpus
    paged = run.optimizer.startswith("paged_")
    adapters, grads = trainable * adapter_bytes, trainable * grad_bytes
    states, temp = (0.0 if paged else trainable * state_bytes), trainable * step_temp
    if embedding_states := trainer_embedding_states(s, run):
        states += embedding_states
        notes.append(EMBEDDING_STATES_NOTE.format(gib=s.embedding_params * 8.0 / k.GIB))
    ddp_buckets = grads if n > 1 and run.sharding == "ddp" else 0.0
    root_grads = 0.0
    if run.sharded:
        adapters, grads, states, temp = adapters / n, grads / n, states / n, temp / n
        if run.method == "full":
            grads += s.layer_params * grad_bytes  # one layer's unsharded gradient before reduce-scatter
            root_grads = (s.embedding_params + s.head_params + s.hidden) * grad_bytes
    paged_note = (f"{run.optimizer} keeps its states ({trainable * state_bytes / n / k.GIB:.2f} GiB) in "
                  "unified memory outside PyTorch's allocator; the driver moves them to CPU RAM when the GPU "
                  "is full, so they are not counted.") if paged else None
    return TrainingState(trainable, adapters, grads, states, temp, ddp_buckets, root_grads, lora, notes, background, paged_note)


# transformers' Trainer (5.17, trainer.py create_optimizer) registers every nn.Embedding with bitsandbytes for
# 32-bit states when the optimizer is 8-bit: under full fine-tuning the input embedding (and per-layer embedding
# tables) keep two fp32 states. Measured: Unsloth full fine-tuning of Llama-3.2-1B held 1.5 GiB more than 8-bit
# states for its 263M-parameter embedding would (bench/vram_calibration/data, round 8).
EMBEDDING_STATES_NOTE = ("adamw_8bit keeps the embedding's states in fp32 ({gib:.2f} GiB): transformers' Trainer asks "
                         "bitsandbytes for 32-bit states on every nn.Embedding.")


def trainer_embedding_states(s: Shapes, run: RunConfig) -> float:
    """Bytes the Trainer's 32-bit embedding states add beyond 8-bit ones (full fine-tuning with adamw_8bit)."""
    return s.embedding_params * (8.0 - ADAM_8BIT_BYTES) if run.method == "full" and run.optimizer == "adamw_8bit" else 0.0


def _optimizer_bytes(optimizer: str, param_bytes: float) -> tuple[float, float]:
    """(state bytes, optimizer-step temporary bytes) per trainable parameter."""
    if optimizer == "adamw_torch":
        # torch AdamW keeps exp_avg and exp_avg_sq in the parameter dtype; its foreach step makes
        # one more parameter-sized temporary (the square root of exp_avg_sq).
        return 2 * param_bytes, param_bytes
    if optimizer == "adamw_torch_fused":
        return 2 * param_bytes, 0.0
    if optimizer == "paged_adamw_32bit":
        return 8.0, 0.0  # two fp32 states, whatever the parameter dtype
    return ADAM_8BIT_BYTES, 0.0


# --- activations -------------------------------------------------------------------------------

_KERNEL_NOTES = {
    "flash": "SDPA (flash / memory-efficient kernel), no sequence-squared term.",
    "math": "SDPA falls back to its math kernel (fp32 inputs with grouped-query attention), keeping "
            "the seq_len x seq_len scores of every head.",
    "masked": "SDPA's memory-efficient kernel with a sliding-window mask (k and v expanded to every head).",
    "eager": "eager, keeping the full attention matrix of every head.",
}


@dataclass(frozen=True)
class Activations:
    layer: float  # one layer's saved activations for the whole micro-batch (the largest, encoder-decoders)
    work: float  # the extra score-sized buffers of one layer's backward
    checkpoints: float  # what gradient checkpointing keeps for all layers
    notes: list[str]  # an attention kernel that keeps seq_len x seq_len scores
    background: list[str]  # checkpointing and the flash kernel, as every such run has them
    all_layers: float  # every layer's saved activations, without checkpointing


def text_tokens(arch: Architecture, run: RunConfig) -> int:
    """Tokens a step's decoder runs over: batch x seq_len, at most max_target_positions a row (Whisper: 448)."""
    return run.batch_size * min(run.seq_len, arch.max_target_positions or run.seq_len)


def encoder_frames(s: Shapes, run: RunConfig) -> int:
    """Positions a step's speech encoder runs over, whatever seq_len: batch x frames (0 without an encoder)."""
    return run.batch_size * s.encoder.frames if s.encoder else 0


def activations(arch: Architecture, s: Shapes, run: RunConfig, p: Precision, lora: tuple[Linear, ...]) -> Activations:
    """What the backward pass needs: every layer's activations, or checkpoints plus one recomputed layer."""
    coef = coefficients(run.stack, run.method, p.fp32_master, run.autocast)
    # SDPA has no fused kernel for fp32 inputs with grouped-query attention (QLoRA's fp32 stream
    # on transformers): it falls back to its math kernel, which keeps seq_len^2 scores (measured).
    # A sliding window the sequence reaches makes transformers build an explicit mask instead.
    masked = bool(arch.sliding_window and run.seq_len >= arch.sliding_window)
    math = run.fp32_stream and s.kv_width < s.q_width and not masked
    kernel = "eager" if run.attention == "eager" else "math" if math else "masked" if masked else "flash"
    tb = token_bytes(s, coef, lora, run.lora_rank, kernel, dropout=run.lora_dropout > 0,
                     width_scale=2.0 if p.fp32_compute else 1.0, full=run.method == "full")
    scale = k.ACTIVATION_SCALE[(run.stack, run.method)]
    tokens = text_tokens(arch, run)
    seq = tokens // run.batch_size
    layer = (tb.layer * tokens + tb.attention_scores * tokens * seq) * scale
    # The backward of one layer with materialised scores needs more score-sized buffers (the
    # scores' gradient, the softmax gradient and a temporary: three by count).
    work = k.SCORE_WORK * tb.attention_scores * tokens * seq
    per_layer = tb.checkpoint  # (Unsloth's offloaded checkpointing is unsloth_stack's, measured and fitted apart)
    checkpoints, all_layers = per_layer * tokens * s.layers, layer * s.layers
    if s.encoder:  # cross-attention over the frames in each decoder layer; the encoder's own layers
        frames, enc_layers = encoder_frames(s, run), s.encoder.blocks.layers
        enc_layer = encoder_layer_bytes(s, run, coef, kernel, p, lora) * scale
        layer += tb.frames * frames * scale
        all_layers = layer * s.layers + enc_layer * enc_layers
        checkpoints += per_layer * frames * (enc_layers + 1)  # + the encoder output the decoder reads
        layer = max(layer, enc_layer)
    background = []
    if run.gradient_checkpointing:
        background.append("Gradient checkpointing: one residual-stream tensor kept per layer, one layer recomputed at a time.")
    attention = "Attention: " + _KERNEL_NOTES[kernel]
    notes = [] if kernel == "flash" else [attention]
    if kernel == "flash":
        background.append(attention)
    return Activations(layer, work, checkpoints, notes, background, all_layers)


def encoder_layer_bytes(s: Shapes, run: RunConfig, coef: Coefficients, kernel: str, p: Precision,
                   lora: tuple[Linear, ...]) -> float:
    """What one speech-encoder layer saves for backward, in bytes, over every frame of the micro-batch."""
    frames = encoder_frames(s, run)
    enc = encoder_token_bytes(s, coef, lora, run.lora_rank, "eager" if kernel == "eager" else "flash",
                              run.lora_dropout > 0, 2.0 if p.fp32_compute else 1.0)
    return enc.layer * frames + enc.attention_scores * frames * (s.encoder.frames if s.encoder else 0)


# --- logits and loss ---------------------------------------------------------------------------


def loss(s: Shapes, run: RunConfig, p: Precision, tokens: int) -> tuple[float, float]:
    """(bytes the logits and loss hold at the start of backward, bytes the allocator reserves for them)."""
    logits = k.LOGITS_BYTES[run.stack] * tokens * s.vocab * (2.0 if p.fp32_compute else 1.0)
    # The loss buffers take one block more than they hold at once (fitted to the measured cells).
    return logits, logits + k.LOGITS_RESERVED_EXTRA[run.stack] * tokens * s.vocab


# --- the Unsloth stack, as measured --------------------------------------------------------------


def encoder_decoder_notes(arch: Architecture, s: Shapes, run: RunConfig) -> list[str]:
    """What an estimate of a speech encoder-decoder (Whisper) counts that a decoder-only one does not, and what
    it leaves out: evaluation during training, which Unsloth's Whisper notebook runs."""
    if s.encoder is None:
        return []
    limit = arch.max_target_positions or run.seq_len
    notes = [f"Encoder-decoder ({arch.model_type}): the encoder runs over {s.encoder.frames} frames per clip (30 s of "
             f"audio) whatever seq_len; seq_len counts decoder tokens, at most {limit}."
             + (f" seq_len {run.seq_len} is counted as {limit} (transformers refuses longer labels)."
                if run.seq_len > limit else "")]
    if run.method != "full":
        notes.append("LoRA target names reach the encoder and both attentions of the decoder (self and cross); o_proj "
                     "stands for Whisper's out_proj, up_proj / down_proj for fc1 / fc2.")
    if run.stack == "unsloth":
        notes.append("Unsloth's fused loss takes only causal-LM classes, so Whisper's full logits and loss are counted.")
    cache = 2 * s.layers * 8 * s.encoder.frames * s.hidden * 2.0 / k.GIB
    notes.append(f"Training step only. Evaluating during training adds more: at Transformers' default eval batch of 8 "
                 f"the decoder's cross-attention cache alone is about {cache:.1f} GiB, and without eval_accumulation_steps "
                 "every evaluated clip's logits and encoder output stay on the GPU. Unsloth's Whisper large-v3 notebook, "
                 "which evaluates so every 5 steps, reserved 10.35 GB on a T4, where its training step is estimated at "
                 "under 4 GiB; its settings with that evaluation, run through Unsloth 2026.10.9 on an H200, peaked at "
                 "7.31 GiB (NVML, one run). Set per_device_eval_batch_size and eval_accumulation_steps, or leave that "
                 "room.")
    return notes
