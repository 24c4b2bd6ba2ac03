"""The answer of plan_training (pydantic models, pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, Field, WithJsonSchema

from finetune_advisor.plan.dataset import DatasetFacts
from finetune_advisor.vram.estimator import RunConfig
from finetune_advisor.vram.fit import too_short
from finetune_advisor.vram.report import VramEstimate

if TYPE_CHECKING:
    from finetune_advisor.plan.planner import PlanRequest
    from finetune_advisor.plan.timing import RunTime


class Alternative(BaseModel):
    """One change and what it does to the time."""

    change: str
    fits: bool = Field(description="Fits comfortably: the request with this one change, planned afresh.")
    seq_len: int | None = Field(description="The seq_len it fits at; where not the plan's, the change names it.")
    micro_batch: int | None
    hours: float | None
    vs_plan: float | None = Field(description="Its time over the plan's: 0.6 is 40 % faster; null at another seq_len that may cut rows.")


class TrainingPlan(BaseModel):
    """Settings that fit, steps, time and cost of a fine-tuning run."""

    model: str
    method: str
    stack: str
    gpu: str
    num_gpus: int
    fits: bool = Field(description="The chosen settings fit comfortably (not tight).")
    max_seq_len: int | None = Field(description="Longest seq_len fitting comfortably at the micro-batch searched from.")
    seq_len: int
    seq_len_reason: str
    truncated_rows: int | None = Field(description="Rows longer than seq_len; null when row lengths are unknown.")
    micro_batch: int = Field(description="Rows per GPU per forward pass.")
    max_micro_batch: int | None = Field(description="Largest micro-batch fitting comfortably at seq_len (at most the effective batch).")
    grad_accumulation: int
    effective_batch: int
    lora_rank: int | None
    dataset: DatasetFacts | None
    epochs: float
    steps_per_epoch: int | None
    total_steps: int | None
    step_seconds: float | None = Field(description="One optimizer step (all micro-batches and GPUs).")
    tokens_per_second: float | None
    hours: float | None = Field(description="Wall time of the training steps, with the first step's compilation on "
                                "Unsloth (first_step_seconds); loading, evaluation and saving not counted.")
    hours_range: tuple[float, float] | None
    first_step_seconds: float | None = Field(description="Of hours: what the first two steps of a fresh Unsloth "
                                             "process took beyond later ones for such models (median measured); "
                                             "null on other stacks.")
    price_per_gpu_hour: float | None
    cost: float | None
    cost_range: tuple[float, float] | None
    # Its schema is estimate_vram's output schema, named rather than repeated: every conversation pays for tools/list.
    memory: Annotated[VramEstimate, WithJsonSchema({"type": "object"})] = Field(
        description="estimate_vram's answer (its output schema) for the chosen settings.")
    alternatives: list[Alternative]
    notes: list[str]

    @classmethod
    def build(cls, *, req: PlanRequest, run: RunConfig, longest: int | None, seq_reason: str, accum: int,
              time: RunTime | None, memory: VramEstimate, truncated: int | None, alternatives: list[Alternative],
              largest_batch: int | None) -> TrainingPlan:
        fits = bool(memory.fits) and not memory.tight
        hours = time.hours if time else None
        span = (time.hours_low, time.hours_high) if time and time.hours_low is not None and time.hours_high is not None else None
        price, gpus = req.price_per_hour, run.num_gpus
        return cls(
            model=memory.model, method=run.method, stack=run.stack, gpu=req.gpu.description, num_gpus=gpus, fits=fits,
            max_seq_len=longest, seq_len=run.seq_len, seq_len_reason=seq_reason, truncated_rows=truncated,
            micro_batch=run.batch_size, max_micro_batch=largest_batch, grad_accumulation=accum, effective_batch=run.batch_size * gpus * accum,
            lora_rank=None if run.method == "full" else run.lora_rank, dataset=req.dataset, epochs=req.epochs,
            steps_per_epoch=time.steps_per_epoch if time else None, total_steps=time.total_steps if time else None,
            step_seconds=time.step_seconds if time else None, tokens_per_second=time.tokens_per_second if time else None,
            hours=hours, hours_range=span, first_step_seconds=time.first_step_seconds if time else None,
            price_per_gpu_hour=price,
            cost=round(hours * gpus * price, 2) if hours is not None and price is not None else None,
            cost_range=(round(span[0] * gpus * price, 2), round(span[1] * gpus * price, 2)) if span and price is not None else None,
            memory=memory, alternatives=alternatives, notes=list(time.notes) if time else _no_fit_notes(longest, memory, run),
        )


def _no_fit_notes(longest: int | None, memory: VramEstimate, run: RunConfig) -> list[str]:
    # What else makes room; QLoRA only for a run that is not QLoRA already, attention-only LoRA where it is offered.
    attention = any("target_modules" in s.arguments for s in memory.suggestions)
    ways = ["QLoRA"] * (run.method != "qlora") + ["LoRA on attention only"] * attention + ["more GPUs", "a larger GPU"]
    if longest is None and memory.fits:  # it fits, but never with the room a long run should leave
        return [f"Fits only tightly at every seq_len, down to one token a row at batch 1: estimate_vram says it fits at seq_len {run.seq_len} "
                f"with {memory.headroom_gib:.2f} GiB to spare, less than this model's estimate may miss by. A plan "
                f"leaves that room, so none is made; a short trial run shows the real peak (or take "
                f"{', '.join(ways[:-1])} or {ways[-1]})."]
    if longest is None:
        tried = ", ".join(ways)
        where = f"see memory.suggestions ({tried})" if memory.suggestions else f"no change estimate_vram tries ({tried}) makes it fit"
        return [f"Does not fit at any seq_len, down to one token a row at batch 1: {where}."]
    if too_short(longest, run.seq_len):
        return [f"Fits comfortably only up to {longest} tokens a row at this micro-batch, too few to train on in place "
                f"of {run.seq_len}: see memory.suggestions ({', '.join(ways)})."]
    return [f"The seq_len asked for does not fit; {longest} does (comfortably) at this micro-batch."]
