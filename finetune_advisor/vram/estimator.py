"""Peak GPU memory of a fine-tuning run, counted from the model's architecture (pure, no I/O).

`estimate(arch, run)` adds up what a training step holds at its peak, per GPU, term by term:
`precision` (the dtype of 16-bit tensors), `weights` (in their storage, sharded or not),
`training_state` (adapters, gradients, optimizer states), `activations` (what the backward pass
keeps, and one layer's recompute), `loss` (the logits and loss buffers), `phases` (the largest of
three moments: the start of the backward pass, a layer's recompute under gradient checkpointing,
the optimizer step) and `reserved` (what the caching allocator holds beyond that, plus the CUDA
context). The terms live in `terms`, the run and the answer's types in `run`, the Unsloth stack's
measured path in `unsloth_stack`, the error to expect in `ground`; each term returns its bytes and the
sentences that explain it; fitted constants live in `constants`, per-family facts in `families`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.extras import rows_step
from finetune_advisor.vram.ground import error_margin, over_margin
from finetune_advisor.vram.run import AUX_LOSS_OFF, BLOCK_COMPILE_OFF, Breakdown, CoreEstimate, RunConfig, billions, check_run
from finetune_advisor.vram.shapes import shapes
from finetune_advisor.vram.terms import (
    NF4_BYTES, Activations, Kept16bit, Precision, TrainingState, Weights, activations, encoder_decoder_notes, loss,
    precision, text_tokens, training_state, weights,
)
from finetune_advisor.vram.unsloth_stack import trial_kept, unsloth_estimate, unsloth_loss_budget_gib, unsloth_offloads

# The estimator's surface: what other modules and tools import from here.
__all__ = ["AUX_LOSS_OFF", "BLOCK_COMPILE_OFF", "NF4_BYTES", "Breakdown", "CoreEstimate", "RunConfig", "estimate", "estimate_on_card",
           "precision", "trial_kept"]

@dataclass(frozen=True)
class Peak:
    phase: str
    activations: float
    loss: float
    grads: float
    optimizer_temp: float
    phases: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    @property
    def held(self) -> float:
        return self.activations + self.loss + self.grads + self.optimizer_temp


def phases(run: RunConfig, act: Activations, logits: float, state: TrainingState) -> Peak:
    """The moment of the step that holds the most (activations, loss, gradients, optimizer temporaries)."""
    # LoRA gradients appear only as the backward pass proceeds (zero_grad frees them after each step).
    held = {
        "start of backward": (act.checkpoints if run.gradient_checkpointing else act.all_layers, logits, 0.0, 0.0),
        "optimizer step": (0.0, 0.0, state.grads, state.temp),
    }
    if run.gradient_checkpointing:
        # Full fine-tuning frees each checkpoint as its layer's gradients arrive.
        keep = 0.0 if run.method == "full" else act.checkpoints
        held["layer recompute"] = (keep + act.layer + act.work, 0.0, state.grads + state.root_grads, 0.0)
    elif act.work:
        held["last layer's backward"] = (act.all_layers + act.work, 0.0, 0.0, 0.0)
    name, (a, l_, g, t) = max(held.items(), key=lambda item: sum(item[1]))
    return Peak(name, a, l_, g, t, held)


def reserved(run: RunConfig, base: float, peak: Peak, act: Activations, logits: float, loss_blocks: float,
             state: TrainingState) -> float:
    """Device memory the process shows: the allocator's peak reservation, fragmentation, context, NCCL."""
    allocated = base + peak.held
    # When the first optimizer step puts its states into the blocks the loss buffers left, the next
    # step's loss needs fresh blocks (full fine-tuning: LoRA's optimizer tensors are too small).
    cross = 0.0
    if run.method == "full":
        before = loss_blocks if run.gradient_checkpointing else loss_blocks + act.all_layers
        cross = k.CROSS_PHASE[run.gradient_checkpointing] * min(before, state.states + state.grads + state.temp)
    if run.gradient_checkpointing:  # the recomputed layer's buffers and the loss blocks differ in shape
        cross += k.CROSS_RECOMPUTE * min(loss_blocks, act.layer + act.work)
    held = max(allocated, base + sum(peak.phases["start of backward"]) - logits + loss_blocks) + cross
    frag = k.FRAGMENTATION_SHARDED if run.sharded else k.FRAGMENTATION
    return held * (1 + frag) + k.CUDA_CONTEXT_GIB * k.GIB + (k.NCCL_GIB * k.GIB if run.num_gpus > 1 else 0.0)


# --- the estimate ------------------------------------------------------------------------------


def estimate(
    arch: Architecture,
    run: RunConfig,
    *,
    params_total: float | None = None,
    kept_16bit: Kept16bit | None = None,
    context_length: int | None = None,
    float32_without_bf16: bool | None = None,
    takes_images: bool = False,
) -> CoreEstimate:
    """Peak memory per GPU of `run` on `arch`.

    params_total: the model's real parameter count when known (catalog), so parts the text config
    does not describe (a vision tower) are still loaded. kept_16bit: the linear layers' parameters a
    quantised checkpoint keeps in 16-bit (its `llm_int8_skip_modules`, or a dynamic upload's size), when known.
    float32_without_bf16: the catalog family's advice (Unsloth loads it in float32 on GPUs without bf16);
    None for a model outside the catalog, whose config's model_type then decides by Unsloth's list.
    takes_images: whether the model reads images (run.images_per_row needs it; on Unsloth, such a checkpoint loads as
    *ForConditionalGeneration, whose loss takes another route).
    """
    check_run(run, arch, context_length or arch.max_position_embeddings)
    s = shapes(arch)
    p = precision(arch, run, float32_without_bf16)
    w = weights(s, run, p, params_total, kept_16bit)
    state = training_state(s, run, p, w.total_params)
    rows = rows_step(arch.model_type, p.extras, takes_images, run, p.fp32_compute)
    if run.stack == "unsloth" and run.gradient_checkpointing:
        return unsloth_estimate(arch, s, run, p, w, state, rows, takes_images)
    act = activations(arch, s, run, p, state.lora)
    logits, loss_blocks = loss(s, run, p, text_tokens(arch, run))
    fixed = k.FIXED_ALLOCATED_GIB * k.GIB
    if run.method == "qlora":
        fixed += max(lin.fan_in * lin.fan_out for lin in s.linears) * 2.0  # one dequantised weight at a time
    base = w.bytes + state.adapters + state.states + w.autocast_copies + state.ddp_buckets + fixed
    peak = phases(run, act, logits, state)
    # The rows' images or audio were measured as what the process's peak grows by: added as they are.
    total = reserved(run, base, peak, act, logits, loss_blocks, state) + rows.bytes
    parts = {
        "weights": w.bytes + w.autocast_copies, "adapters": state.adapters, "gradients": peak.grads + state.ddp_buckets,
        "optimizer": state.states + peak.optimizer_temp, "activations": peak.activations + rows.bytes,
        "logits_and_loss": peak.loss,
    }
    gib = {name: round(v / k.GIB, 3) for name, v in parts.items()}
    total_gib = round(total / k.GIB, 3)
    return CoreEstimate(
        total_gib=total_gib,
        breakdown=Breakdown(**gib, overhead=round(total_gib - sum(gib.values()), 3)),
        params_b=billions(w.total_params),
        trainable_params_m=round(state.trainable / 1e6, 3),
        assumptions=_assumptions(run, p, w, state, act) + rows.notes + encoder_decoder_notes(arch, s, run),
        background=[f"Peak per GPU is at the {peak.phase}; the breakdown lists what is held at that moment.",
                    *w.background, *state.background, *act.background, f"Empirical constants: {k.FIT_SOURCE}."],
        margin=error_margin(arch, run),
        over_margin=over_margin(arch, run),
    )


UNSLOTH_NOTE = (
    "Unsloth without gradient checkpointing was not measured: every Unsloth run we measured used its offloaded "
    "checkpointing (use_gradient_checkpointing='unsloth', as its notebooks do). Here every layer's activations are "
    "counted from Unsloth's fused-kernel design (not fitted), its fused loss at 4 bytes per token per vocabulary entry "
    "(assumed), and the allocator and CUDA context as on the transformers stack: expect a larger error."
)


def estimate_on_card(arch: Architecture, run: RunConfig, usable_gib: float, **kwargs: Any) -> tuple[RunConfig, CoreEstimate]:
    """`estimate` on a card with `usable_gib` after the driver's share, as Unsloth sizes the run to it: the input
    embedding where it puts it by itself (unsloth_stack.unsloth_offloads: host RAM on a tight card) and its loss chunks
    to the memory left (unsloth_loss_budget_gib) where the run then fits the card: a run that does not fit is kept at
    the chunks of a card it would fit, which the GPU suggested for it is sized with. The run estimated comes back."""
    run = run.model_copy(update={"offload_embedding": False, "loss_budget_gib": None})
    core = estimate(arch, run, **kwargs)
    if unsloth_offloads(arch, run, core, usable_gib):
        run = run.model_copy(update={"offload_embedding": True})
        core = estimate(arch, run, **kwargs)
    budget = unsloth_loss_budget_gib(run, core, usable_gib)
    if budget is not None:
        chunked = run.model_copy(update={"loss_budget_gib": budget})
        smaller = estimate(arch, chunked, **kwargs)
        if smaller.need_gib <= usable_gib:
            return chunked, smaller
    return run, core


def _assumptions(run: RunConfig, p: Precision, w: Weights, state: TrainingState, act: Activations) -> list[str]:
    """The sentences particular to this run, in the order a reader follows the estimate."""
    notes = [*w.notes, *w.storage_notes, *state.notes, *p.notes, *act.notes]
    if run.num_gpus > 1:
        notes.append(f"{run.num_gpus} GPUs with {run.sharding}: " + (
            "parameters, gradients and optimizer states sharded, two layers gathered at a time."
            if run.sharding != "ddp" else "each GPU holds the whole model plus gradient buckets."))
    if run.stack == "unsloth":
        notes.append(UNSLOTH_NOTE)
    if state.paged_note:
        notes.append(state.paged_note)
    return notes
