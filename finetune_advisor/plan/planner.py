"""A training plan: the longest context, largest micro-batch and rank that fit, steps, time and cost (pure).

Memory comes from the estimator (`plan.search`, the same verdict as estimate_vram); time from the
step-time model (`plan.throughput`), on the GPU the user named. A value the user fixed is held and
the rest is searched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.gpus.target import GpuTarget
from finetune_advisor.plan import search
from finetune_advisor.plan.dataset import DatasetFacts, none_cut, round_up
from finetune_advisor.plan.result import Alternative, TrainingPlan
from finetune_advisor.plan.timing import RunTime, run_time
from finetune_advisor.vocabulary import LIMITS, METHOD_NAMES
from finetune_advisor.vram import fit
from finetune_advisor.vram.bisection import SEQ_STEP
from finetune_advisor.vram.estimator import AUX_LOSS_OFF, BLOCK_COMPILE_OFF, RunConfig, trial_kept
from finetune_advisor.vram.ground import ground_notes
from finetune_advisor.vram.report import report
from finetune_advisor.vram.resolve import ResolvedArch
from finetune_advisor.vram.shapes import shapes

DEFAULT_SEQ_LEN = 2048  # Unsloth's notebooks' max_seq_length
MORE_GPUS_WORTH = 0.75  # twice the GPUs taking more than this share of the time is not worth it


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked: the run's settings (method chosen, not auto), which of them they fixed, the data."""

    resolved: ResolvedArch
    run: RunConfig
    gpu: GpuTarget
    dataset: DatasetFacts | None
    epochs: float = 1.0
    effective_batch: int = 16
    price_per_hour: float | None = None
    fixed_seq_len: bool = False
    fixed_batch: bool = False
    search_rank: bool = False
    given_longest: int | None = None  # the longest row's tokens as given; with rows and their mean, also in dataset

    @property
    def rows_per_step(self) -> int:
        """The effective batch, no larger than the dataset: a step cannot take rows it does not have."""
        return min(self.effective_batch, self.dataset.rows) if self.dataset else self.effective_batch

    @property
    def longest_row(self) -> int | None:
        """Tokens in the longest row: counted in the dataset, else as given; None when unknown."""
        return self.dataset.longest_row if self.dataset else self.given_longest

    @property
    def memory(self) -> float:
        if self.gpu.memory_gib is None:
            raise InvalidInputError("gpu", "a plan needs the GPU", "'gpu' (a name, e.g. 'RTX 4090') or 'gpu_memory_gib'")
        return self.gpu.memory_gib

    @property
    def card(self) -> search.Card:
        return self.memory, self.gpu.reserved_gib

    @property
    def model_context(self) -> int:
        arch = self.resolved.arch  # a speech decoder's labels stop at max_target_positions (Whisper: 448)
        return arch.max_target_positions or self.resolved.context or arch.max_position_embeddings or 131_072

    @property
    def context(self) -> int:
        """The longest seq_len a plan considers: the model's context, within the seq_len an estimate accepts (Llama 4
        Scout's 10,485,760 tokens are beyond it)."""
        return min(self.model_context, int(LIMITS["seq_len"][1]))


OTHER_METHOD = {"qlora": "lora", "lora": "qlora"}  # the method alternative a plan compares with
METHOD_LABELS = {"lora": "LoRA (16-bit)", "qlora": "QLoRA"}


def with_method(req: PlanRequest, run: RunConfig, method: str, stack: str | None = None) -> RunConfig:
    """`run` with another method (and stack), loading the checkpoint estimate_vram would load for it."""
    stack = stack or run.stack
    return run.model_copy(update={"method": method, "stack": stack, "storage": req.resolved.storage_for(method, stack)})


def choose_method(req: PlanRequest) -> tuple[str, str, bool]:
    """For method auto, as recommend_model chooses (`fit.auto_method`), at the plan's first settings: the method, why,
    and whether trl's router aux loss goes off."""
    lora = with_method(req, req.run, "lora").model_copy(update={"batch_size": 1, "seq_len": min(req.run.seq_len, req.context)})
    comfortable = search.comfortable(req.resolved, lora, req.card)
    params = req.resolved.params_total or shapes(req.resolved.arch).total_params
    advised = bool(req.resolved.advice("qlora"))
    aux_off = (not comfortable and advised and req.run.router_aux_loss and trial_kept(req.resolved.arch, lora)
               and search.comfortable(req.resolved, lora.model_copy(update={"router_aux_loss": False}), req.card))
    choice = fit.auto_method(fit.studio_prefers_lora(params / 1e9, lora.seq_len, req.memory), comfortable, advised, aux_off)
    why = _AUTO_REASONS[choice.case]
    if choice.method == "qlora" and advised:
        why += (" Unsloth advises against QLoRA for this family (see the notes); LoRA needs more room than this GPU "
                "leaves.")
    return choice.method, why, not choice.router_aux_loss


_AUTO_REASONS = {
    "lora": "Method auto: LoRA, because the 16-bit model fits comfortably and trains faster than QLoRA.",
    "lora_advised": ("Method auto: LoRA, because Unsloth advises against QLoRA for this family (see the notes) and "
                     "the 16-bit model fits comfortably."),
    "lora_aux_off": (f"Method auto: LoRA with {AUX_LOSS_OFF}, as recommend_model picks: Unsloth advises against "
                     "QLoRA for this family (see the notes), and 16-bit LoRA fits comfortably once the aux loss no "
                     "longer keeps the first step's trial forwards. Set that in SFTConfig, or ask for method qlora."),
    "qlora_lora_fits_too": ("Method auto: QLoRA, as Unsloth Studio's rule picks at this size (16-bit weights x 1.5 x a "
                            "context factor exceed the GPU); by our estimate 16-bit LoRA fits comfortably too: ask for "
                            "method lora to use it."),
}
_AUTO_REASONS["qlora_lora_tight"] = _AUTO_REASONS["qlora"] = \
    "Method auto: QLoRA, because 16-bit LoRA does not fit comfortably at batch 1."


def plan(req: PlanRequest, compare: bool = True) -> TrainingPlan:
    """The plan for `req`: the settings that fit, how many steps, how long and how much; with `compare`,
    the same plan for other choices (method, stack, GPU count) and what each does to the time."""
    at_batch = req.run if req.fixed_batch else req.run.model_copy(update={"batch_size": 1})
    longest = search.longest_seq_len(req.resolved, at_batch, req.card, req.context)
    # A length that fits but holds too little to train on is no plan: the plan is made for the length wanted.
    short = longest is not None and fit.too_short(longest, req.run.seq_len if req.fixed_seq_len else _wanted(req))
    seq_len, why = _seq_len(req, None if short else longest)
    run = req.run.model_copy(update={"seq_len": seq_len})
    if longest is None or short or (req.fixed_seq_len and seq_len > longest):
        return _with_advice(req, _does_not_fit(req, run, longest), [run.method])
    run, rank_notes = _rank_and_batch(req, run)
    largest_batch = run.batch_size
    accum = max(1, math.ceil(req.rows_per_step / (run.batch_size * run.num_gpus)))
    if not req.fixed_batch:  # the smallest micro-batch with that accumulation: the effective batch as asked, not overshot
        run = run.model_copy(update={"batch_size": max(1, math.ceil(req.rows_per_step / (accum * run.num_gpus)))})
    time = run_time(req.resolved, run, req.gpu, req.dataset, accum, req.epochs)
    memory = report(req.resolved, run, req.memory, req.gpu.description, reserved=req.gpu.reserved_gib)
    truncated = req.dataset.truncated(seq_len) if req.dataset else none_cut(req.longest_row, seq_len)
    others = alternatives(req, run, time, truncated) if compare else []
    result = TrainingPlan.build(
        req=req, run=run, longest=longest, seq_reason=why, accum=accum, time=time, memory=memory, truncated=truncated,
        largest_batch=largest_batch, alternatives=others,
    )
    _with_advice(req, result, [run.method, *([OTHER_METHOD[run.method]] if others and run.method in OTHER_METHOD else [])])
    if req.rows_per_step < req.effective_batch:
        result.notes.append(f"The dataset's {req.rows_per_step} rows are fewer than the effective batch "
                            f"({req.effective_batch}): each step takes all of them.")
    result.notes.extend(rank_notes)
    result.notes.extend(_overshoot(req.rows_per_step, run, accum, largest_batch))
    result.notes.extend(ground_notes(req.resolved.arch, run))  # how far the peak is from measured ground
    if not req.fixed_seq_len and seq_len == longest:  # memory set the length: say how much further a tight fit goes
        result.notes.extend(_longest_tight(req, at_batch, longest))
    if trial_kept(req.resolved.arch, run) and not req.fixed_seq_len:
        result.notes.extend(_longest_without_aux(req, at_batch, longest))
    more = next((a for a in others if a.change == f"{run.num_gpus * 2} GPUs"), None)  # at the plan's seq_len and rank
    if more is not None and more.vs_plan is not None and more.vs_plan > MORE_GPUS_WORTH:
        result.notes.append(f"More GPUs would not help much: {more.change} would take {more.vs_plan:.0%} of this plan's "
                            "time (traffic between GPUs, fixed per-step costs or the first step's compilation "
                            "dominate).")
    return result


def _overshoot(wanted: int, run: RunConfig, accum: int, largest: int) -> list[str]:
    """Where micro-batch x GPUs x accumulation comes out above the effective batch asked (it rounds up), say so and
    name the micro-batch, up to the largest that fits, that gives it exactly."""
    got = run.batch_size * run.num_gpus * accum
    if got == wanted:
        return []
    exact = next((b for b in range(largest, 0, -1) if wanted % (b * run.num_gpus) == 0), None)
    how = (f"; micro-batch {exact} gives exactly {wanted} ({wanted // (exact * run.num_gpus)} accumulation steps)"
           if exact else "")
    return [f"Effective batch {got}, not the {wanted} asked: {wanted} rows in {accum} accumulation steps of "
            f"{run.num_gpus} GPU(s) round up to {run.batch_size} rows a micro-batch{how}."]


def _longest_tight(req: PlanRequest, at_batch: RunConfig, longest: int) -> list[str]:
    """The longest seq_len estimate_vram calls a fit, when it is longer than the plan's comfortable one."""
    tight = search.longest_seq_len(req.resolved, at_batch, req.card, req.context, ok=search.FITS)
    if tight is None or tight < longest + SEQ_STEP:
        return []
    margin = search.verdict(req.resolved, at_batch.model_copy(update={"seq_len": tight}), req.card).margin
    return [f"Up to {tight} tokens fits at micro-batch {at_batch.batch_size} too, but tightly: with less room than this "
            f"estimate may miss by ({margin:.0%} of it), so the plan stops at {longest}. Train longer rows only after "
            "a short trial run at that length, watching the peak (nvidia-smi)."]


def _longest_without_aux(req: PlanRequest, at_batch: RunConfig, longest: int) -> list[str]:
    """On a MoE whose first Unsloth step keeps the router's trial forwards: the longest seq_len without them."""
    off = at_batch.model_copy(update={"router_aux_loss": False})
    without = search.longest_seq_len(req.resolved, off, req.card, req.context)
    if without is None or without <= longest:
        return []
    return [f"With {AUX_LOSS_OFF}, the first step does not keep every layer's trial forward, and the longest seq_len "
            f"that fits at micro-batch {at_batch.batch_size} is {without} rather than {longest}; {BLOCK_COMPILE_OFF}."]


def _with_advice(req: PlanRequest, result: TrainingPlan, methods: list[str]) -> TrainingPlan:
    """Add Unsloth's advice against any of METHODS (the plan's, and the other one it compares) to the notes."""
    result.notes.extend(advice for m in methods if (advice := req.resolved.advice(m)))
    return result


def _seq_len(req: PlanRequest, longest: int | None) -> tuple[int, str]:
    """The seq_len to train at, and why: the user's, else one that covers the longest row, else the default."""
    if req.fixed_seq_len:
        return req.run.seq_len, "as given"
    wanted = _wanted(req)
    if req.longest_row:
        if longest is not None and wanted > longest:
            beyond = f", beyond the model's limit of {req.model_context}" if req.longest_row > req.model_context else ""
            return longest, (f"the longest that fits comfortably; the longest row has {req.longest_row} tokens{beyond}: "
                             f"longer rows are cut to it{_below_mean(req, longest)}")
        if wanted < req.longest_row:
            return wanted, (f"{_limit(req, wanted)} of {wanted} tokens a row; the longest row has {req.longest_row}: "
                            "longer rows are cut to it")
        return wanted, f"covers the longest row ({req.longest_row} tokens)"
    mean = _mean_row(req)
    unknown = "the longest row is not known, and rows beyond it are truncated: give the longest row's length or a dataset file"
    if longest is not None and wanted > longest:
        return longest, f"the longest that fits comfortably (below {wanted}){_below_mean(req, longest)}; {unknown}"
    if wanted < max(DEFAULT_SEQ_LEN, mean):
        return wanted, f"{_limit(req, wanted)} of {wanted} tokens a row{_below_mean(req, wanted)}; {unknown}"
    if mean > DEFAULT_SEQ_LEN:
        return wanted, f"covers the mean row ({req.dataset.tokens_per_row:g} tokens); {unknown}"
    return wanted, f"Unsloth's default of {DEFAULT_SEQ_LEN}; {unknown}"


def _limit(req: PlanRequest, wanted: int) -> str:
    """Whose limit `wanted` is: the model's, or the longest seq_len an estimate accepts."""
    return "the model's limit" if wanted == req.model_context else "the longest seq_len an estimate accepts"


def _wanted(req: PlanRequest) -> int:
    """The length the plan would train at with room enough: the longest row's, else the mean row's or Unsloth's
    default, whichever is longer; never beyond the model's limit."""
    if req.longest_row:
        return min(round_up(req.longest_row), req.context)
    return min(max(DEFAULT_SEQ_LEN, _mean_row(req)), req.context)


def _mean_row(req: PlanRequest) -> int:
    """The dataset's mean row, rounded up as a seq_len is (0 without a dataset)."""
    return round_up(math.ceil(req.dataset.tokens_per_row)) if req.dataset else 0


def _below_mean(req: PlanRequest, seq_len: int) -> str:
    """Said of a seq_len below the mean row: most rows are cut, not only the longest."""
    mean = req.dataset.tokens_per_row if req.dataset else 0
    return f", below the mean row ({mean:g} tokens): most rows are cut there" if mean > seq_len else ""


def _batch(req: PlanRequest, run: RunConfig) -> RunConfig:
    """The user's micro-batch, else the largest that fits, no larger than the effective batch needs."""
    if req.fixed_batch:
        return run
    cap = max(1, min(search.MAX_MICRO_BATCH, math.ceil(req.rows_per_step / run.num_gpus)))
    return run.model_copy(update={"batch_size": search.largest_batch(req.resolved, run, req.card, cap) or 1})


def _rank_and_batch(req: PlanRequest, run: RunConfig) -> tuple[RunConfig, list[str]]:
    """The micro-batch; with `search_rank`, the largest rank first (at micro-batch 1, or the user's) and the
    micro-batch sized for it, with a note where the rank took the room of a larger micro-batch."""
    if not req.search_rank or run.method == "full":
        return _batch(req, run), []
    start = run if req.fixed_batch else run.model_copy(update={"batch_size": 1})
    rank = search.largest_rank(req.resolved, start, req.card) or run.lora_rank
    ranked = _batch(req, run.model_copy(update={"lora_rank": rank}))
    if req.fixed_batch or rank <= run.lora_rank:
        return ranked, []
    unranked = _batch(req, run)
    if unranked.batch_size <= ranked.batch_size:
        return ranked, []
    return ranked, [f"Rank {rank} is the largest that fits comfortably at micro-batch 1, and leaves room for micro-batches "
                    f"of up to {ranked.batch_size} rows; at rank {run.lora_rank}, up to {unranked.batch_size} would fit "
                    "(fewer, faster steps): the rank search comes first, as asked."]


def _does_not_fit(req: PlanRequest, run: RunConfig, longest: int | None) -> TrainingPlan:
    memory = report(req.resolved, run, req.memory, req.gpu.description, reserved=req.gpu.reserved_gib)
    return TrainingPlan.build(req=req, run=run, longest=longest, seq_reason="as given", accum=1, time=None,
                              memory=memory, truncated=None, alternatives=[], largest_batch=None)


def alternatives(req: PlanRequest, run: RunConfig, time: RunTime | None, truncated: int | None) -> list[Alternative]:
    """What changes the time most: the other method, the other stack, twice the GPUs, each planned afresh (the
    request with that one change, its own seq_len, micro-batch and rank searched); a seq_len or rank other than
    the plan's is named in the change; where rows may be cut at either length (`truncated`: the plan's rows cut), its
    time is not compared with the plan's (vs_plan null): it trains other tokens."""
    if time is None or time.hours is None:
        return []
    asked = req.run
    options: list[tuple[str, RunConfig]] = []
    if run.method in OTHER_METHOD:
        other_method = OTHER_METHOD[run.method]
        against = " (Unsloth advises against it for this family: see the notes)" if req.resolved.advice(other_method) else ""
        options.append((f"{METHOD_LABELS[other_method]} instead of {METHOD_NAMES[run.method]}{against}",
                        with_method(req, asked, other_method)))
    other = "transformers" if run.stack == "unsloth" else "unsloth"
    options.append((f"the {other} stack", with_method(req, asked, run.method, other)))
    options.append((f"{run.num_gpus * 2} GPUs", asked.model_copy(update={"num_gpus": run.num_gpus * 2})))
    if trial_kept(req.resolved.arch, run):
        options.append((AUX_LOSS_OFF, asked.model_copy(update={"router_aux_loss": False})))
    found = []
    for change, option in options:
        other_plan = plan(replace(req, run=option), compare=False)
        if change == AUX_LOSS_OFF and (other_plan.micro_batch, other_plan.seq_len) == (run.batch_size, run.seq_len):
            continue  # the same plan: the first step's excess does not limit this one
        fits = other_plan.fits
        same_work = other_plan.seq_len == run.seq_len or truncated == other_plan.truncated_rows == 0
        change += _differs(run, other_plan) if fits else ""
        ratio = round(other_plan.hours / time.hours, 2) if fits and same_work and other_plan.hours and time.hours else None
        found.append(Alternative(change=change, fits=fits, seq_len=other_plan.seq_len if fits else None,
                                 hours=other_plan.hours if fits else None, vs_plan=ratio,
                                 micro_batch=other_plan.micro_batch if fits else None))
    return found


def _differs(run: RunConfig, other: TrainingPlan) -> str:
    """What an alternative planned afresh trains at that the plan does not: ', at seq_len N and rank R'."""
    said = [f"{name} {mine}" for name, mine, plans in (("seq_len", other.seq_len, run.seq_len),
                                                        ("rank", other.lora_rank, run.lora_rank)) if mine != plans]
    return ", at " + " and ".join(said) if said else ""
