"""Steps and wall time of a whole run on the named GPUs (pure).

The time of one optimizer step is `accum` micro-batches (`plan.throughput`) plus, with several GPUs,
the traffic between them: DDP all-reduces the trainable gradients once per step; FSDP / ZeRO-3
gathers the weights for the forward and backward passes and scatters the gradients in every
micro-batch. Link speeds are assumptions (no measurement backs them), stated in the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from finetune_advisor.gpus.table import GpuSpec, find
from finetune_advisor.gpus.target import GpuTarget
from finetune_advisor.plan import constants as k
from finetune_advisor.plan import throughput
from finetune_advisor.plan.dataset import DatasetFacts
from finetune_advisor.plan.images import tower_time
from finetune_advisor.vram.estimator import RunConfig, estimate, precision
from finetune_advisor.vram.families import (COMPILE_OFF_RUNS, UNSLOTH_WIDE_HEAD_DIM, padded_on_unsloth,
                                           sixteen_bit_step_note, step_note)
from finetune_advisor.vram.resolve import ResolvedArch
from finetune_advisor.vram.shapes import shapes
from finetune_advisor.vram.terms import AUTOCAST_PROBE

NVLINK_GBS = 200.0  # assumed effective bandwidth per GPU between SXM GPUs (NVLink)
PCIE_GBS = 20.0  # assumed effective bandwidth per GPU over PCIe 4.0 x16
# Below this many architectures left out in turn, a spread is not called a range the time keeps to.
FEW_ARCHITECTURES = 3
# A run longer than a year of wall time on the GPUs named is beyond any fine-tuning run: those take hours to weeks,
# and a pretraining run on far more GPUs takes months. Such a plan comes from a mistyped figure (rows, tokens, epochs)
# or GPUs far too slow for the data, and its answer says so (the attack pass's B6): 365.25 days of 24 hours.
SENSIBLE_HOURS = 365.25 * 24


@dataclass(frozen=True)
class RunTime:
    steps_per_epoch: int | None
    total_steps: int | None
    step_seconds: float | None = None
    hours: float | None = None
    hours_low: float | None = None
    hours_high: float | None = None
    tokens_per_second: float | None = None
    notes: list[str] = field(default_factory=list)
    first_step_seconds: float | None = None  # of hours: the first step's compilation (throughput.first_step)


def run_time(resolved: ResolvedArch, run: RunConfig, gpu: GpuTarget, data: DatasetFacts | None, accum: int,
             epochs: float) -> RunTime:
    """Steps and hours for `epochs` passes over `data` with micro-batch `run.batch_size` and `accum` steps."""
    if data is None:
        return RunTime(None, None, notes=["Dataset size not given: steps and time need rows and tokens per row (or a dataset file)."])
    per_step = run.batch_size * run.num_gpus * accum
    steps_per_epoch = math.ceil(data.rows / per_step)
    total = max(1, math.ceil(steps_per_epoch * epochs))
    fp32 = precision(resolved.arch, run, resolved.float32_without_bf16).fp32_compute
    tflops = matmul_tflops(gpu.spec, run, fp32) if gpu.spec else None
    why = _why_no_time(run, gpu, tflops)
    if why:
        return RunTime(steps_per_epoch, total, notes=[why])
    assert gpu.spec is not None and tflops is not None
    stack = throughput.timed_stack(run.stack, run.method)
    bandwidth = gpu.spec.bandwidth_gbs or 1.0  # only QLoRA's dequantisation reads it, and QLoRA needs it (_why_no_time)
    padded = run.stack == "unsloth" and padded_on_unsloth(resolved.arch.model_type, shapes(resolved.arch).mamba_mixers)
    micro = throughput.micro_step(resolved.arch, run, data.row_tokens(run.seq_len, run.batch_size, padded), tflops, bandwidth)
    tower = tower_time(resolved.arch.model_type, run.images_per_row * run.batch_size,
                       find(k.FITTED_ON_GPU).tflops_bf16 / tflops, gpu.spec.name)
    comm = _communication(resolved, run, gpu, accum)
    step = accum * (micro.seconds + tower.seconds) + comm
    low, high = accum * (micro.low + tower.low) + comm, accum * (micro.high + tower.high) + comm
    row = min(data.tokens_per_row, run.seq_len)
    tokens = per_step * row
    first = throughput.first_step(resolved.arch, run)
    start = (first.seconds, first.low, first.high) if first else (0.0, 0.0, 0.0)
    hours, rate = _hours(total * step + start[0]), round(tokens / step)
    notes = (_beyond_sense(data, run, row, gpu.spec.name, epochs, hours, rate) + _notes(run, gpu, stack, comm, fp32)
             + _first_step_note(first) + tower.notes + _scale_note(micro) + _slow_attention_note(micro)
             + _host_note(micro) + _padding_notes(run, padded, bool(data.lengths))
             + _family_step_note(resolved.arch.model_type, run.batch_size * row, micro.seconds)
             + _sixteen_bit_note(run, resolved.arch.model_type))
    return RunTime(steps_per_epoch, total, round(step, 3), hours,
                   _hours(total * low + start[1]), _hours(total * high + start[2]), rate, notes,
                   first.seconds if first else None)


def matmul_tflops(spec: GpuSpec, run: RunConfig, fp32: bool) -> float | None:
    """The rate the matmuls run at: tensor cores in 16 bits, or the fp32 rate where the GPU has no bf16 and
    Unsloth trains the family in float32 (`precision(...).fp32_compute`; when the table has no fp32 rate, the
    tensor rate, which is too fast). In 16 bits, a GPU with a public matmul benchmark is scaled by it against the
    same benchmark on the GPU the model was fitted on, instead of by datasheets (an L4 reaches 59 % of its
    datasheet, an H200 80 %, an RTX 5090 115 %)."""
    if fp32:
        return spec.tflops_fp32 or spec.tensor_tflops(run.bf16)
    reference = _benchmark_reference(spec)
    if reference:
        return spec.measured_matmul_tflops * reference.tflops_bf16 / reference.measured_matmul_tflops
    return spec.tensor_tflops(run.bf16)


def _benchmark_reference(spec: GpuSpec) -> GpuSpec | None:
    """The GPU the model was fitted on, when it and SPEC both have a public matmul benchmark to scale by."""
    reference = find(k.FITTED_ON_GPU)
    ok = spec.measured_matmul_tflops and reference.measured_matmul_tflops and reference.tflops_bf16
    return reference if ok else None


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 3)


def _why_no_time(run: RunConfig, gpu: GpuTarget, tflops: float | None) -> str | None:
    if gpu.spec is None:
        return "Time not estimated: name the GPU ('gpu', e.g. 'RTX 4090') so its TFLOPS and bandwidth are known; memory alone does not say."
    if tflops is None:
        return f"Time not estimated: the packaged table has no tensor TFLOPS for the {gpu.spec.name} ({gpu.spec.tflops_note or 'not published'})."
    if not gpu.spec.bandwidth_gbs and run.method == "qlora":
        return f"Time not estimated: the packaged table has no memory bandwidth for the {gpu.spec.name}."
    return None


def _communication(resolved: ResolvedArch, run: RunConfig, gpu: GpuTarget, accum: int) -> float:
    """Seconds per optimizer step spent moving gradients or weights between GPUs (ring collectives)."""
    if run.num_gpus < 2:
        return 0.0
    n = run.num_gpus
    link = _link_gbs(gpu) * 1e9
    ring = 2 * (n - 1) / n
    if run.sharded:
        one = run.model_copy(update={"num_gpus": 1})
        weights = estimate(resolved.arch, one, **resolved.estimate_kwargs(run.storage)).breakdown.weights
        return accum * 3 * ring * weights * 1024**3 / link  # gather forward, gather backward, scatter gradients
    trainable = shapes(resolved.arch).total_params if run.method == "full" else 0
    grads = (trainable * 2 if run.method == "full" else _lora_bytes(resolved, run))
    return ring * grads / link


def _link_gbs(gpu: GpuTarget) -> float:
    nvlink = gpu.spec is not None and ("SXM" in gpu.spec.name or gpu.spec.name == "B200")
    return NVLINK_GBS if nvlink else PCIE_GBS


def _lora_bytes(resolved: ResolvedArch, run: RunConfig) -> float:
    one = run.model_copy(update={"num_gpus": 1})
    return estimate(resolved.arch, one, **resolved.estimate_kwargs(run.storage)).trainable_params_m * 1e6 * 4


def _beyond_sense(data: DatasetFacts, run: RunConfig, row: float, gpu: str, epochs: float, hours: float,
                  rate: float) -> list[str]:
    """Where the run outlasts SENSIBLE_HOURS: say that the inputs look wrong and which figures make the time (`row`:
    the tokens a row trains)."""
    if hours <= SENSIBLE_HOURS:
        return []
    cut = f", cut at seq_len {run.seq_len}" if data.tokens_per_row > run.seq_len else ""
    given = data.counted.startswith("given")
    rows = f"{data.rows:,} rows ({'dataset_rows' if given else 'the dataset file'})"
    per_row = f"{row:,.0f} tokens a row ({'tokens_per_row' if given else 'their mean'}{cut})"
    check = "dataset_rows, tokens_per_row and epochs" if given else "the dataset file and epochs"
    return [f"Check the inputs: this run would train for {hours / SENSIBLE_HOURS:.3g} years on {run.num_gpus} x {gpu}, "
            f"far beyond the hours to weeks a fine-tuning run takes. Its time is {rows} x {per_row} x {epochs:g} epochs = "
            f"{data.rows * row * epochs:.3g} tokens at {rate:,.0f} tokens a second: look again at {check} (a mistyped "
            "figure?), or plan on more or faster GPUs. The time and cost are computed from the figures as given."]


def _spread_verdict(low: float, high: float, archs: int) -> str:
    if archs < FEW_ARCHITECTURES:  # a spread from two models says little about a third
        return f"from {archs} architectures only, too few to promise a range: treat the time as a first estimate"
    if -0.2 <= low and high <= 0.2:
        return "within ±20 %"
    return "wider than ±20 %, so treat the time as a first estimate"


def _notes(run: RunConfig, gpu: GpuTarget, stack: str, comm: float, fp32: bool) -> list[str]:
    assert gpu.spec is not None
    low, high = k.SPREAD.get((stack, run.method), (0.0, 0.0))
    verdict = _spread_verdict(low, high, k.SPREAD_ARCHITECTURES.get((stack, run.method), 0))
    notes = [
        f"Time: the step-time model {k.THROUGHPUT_SOURCE}. The range is the spread of its errors on architectures left "
        f"out of the fit ({low:+.0%} to {high:+.0%}): {verdict}.",
        f"{gpu.spec.name}: {gpu.spec.tensor_tflops(run.bf16) or '?'} dense {'bf16' if run.bf16 and gpu.spec.bf16 else 'fp16'} "
        f"TFLOPS ({gpu.spec.tflops_basis}), {gpu.spec.bandwidth_gbs or '?'} GB/s ({gpu.spec.bandwidth_basis}).",
        *_fp32_note(gpu, fp32),
    ]
    if run.fp32_stream:
        notes.append("QLoRA on transformers + peft without autocast (a plain loop): its attention runs in float32, timed "
                     f"so. Under bf16 autocast (Trainer or SFTConfig with bf16=True, TRL's default; pass autocast) a step "
                     f"was 3.9-4.4x faster ({AUTOCAST_PROBE}).")
    elif run.stack == "transformers" and run.method == "qlora":
        notes.append("QLoRA on transformers + peft under bf16 autocast: its 12 H200 cells of that kind were predicted "
                     "within ±20 % for 9 of 12 (median |error| 12 %) before they joined the fit.")
    if stack != run.stack:
        notes.append(f"Step times for {run.method} on the {run.stack} stack were measured on fewer than two models, too "
                     f"few to fit: the {stack} stack's are used.")
    reference = None if fp32 else _benchmark_reference(gpu.spec)
    if reference and gpu.spec != reference:
        notes.append(f"Scaled from the {reference.name} by a public matmul benchmark: {gpu.spec.measured_matmul_tflops:g} "
                     f"TFLOPS on the {gpu.spec.name} ({gpu.spec.measured_source}) against "
                     f"{reference.measured_matmul_tflops:g} on the {reference.name}, not by their datasheets.")
    if comm:
        notes.append(f"Between GPUs: {comm:.2f} s per step, assuming {NVLINK_GBS:g} GB/s per GPU over NVLink (SXM parts) "
                     f"or {PCIE_GBS:g} GB/s over PCIe; not measured.")
    return notes


def _first_step_note(first: throughput.FirstStep | None) -> list[str]:
    if first is None:
        return ["Loading the model, evaluation and saving are not counted."]
    how = f" with {COMPILE_OFF_RUNS}" if first.kind == "gemma" else ""
    return [f"The time includes the first steps of a fresh Unsloth process, which compile the model's layers and "
            f"autotune kernels: {first.seconds:.0f} s more than later steps for {first.kind} models (median of "
            f"{first.cells} runs on the {k.FITTED_ON_GPU}{how}; {first.low:.0f}-{first.high:.0f} s, longest where the "
            "machine's kernel caches were cold, as on a first run), not scaled to your machine. Loading the model, "
            "evaluation and saving are not counted."]


def _scale_note(micro: throughput.StepTime) -> list[str]:
    h = micro.scale
    if h is None:
        return []
    span = f"{h.low:.2f}x" if h.low == h.high else f"{h.low:.2f}-{h.high:.2f}x"
    runs = (f"{h.cells} run{'s' if h.cells > 1 else ''} of such models measured through Unsloth on the "
            f"{k.FITTED_ON_GPU} ({', '.join(h.models)})")
    measured = f"{runs} took {span} its time, so the step is scaled by {h.factor:.2f}x"
    if h.why == throughput.COMPILE_OFF:
        return ["Gemma's steps are outside the fitted step-time model: they were measured with the per-block compile "
                f"off, as the first step was. With it off the host has more kernels to launch: {runs} spent {span} the "
                f"model's host cost beyond its GPU work (median {h.factor:.2f}x; the short steps of the per-layer-input "
                "models E2B, E4B and 3n the most). Unsloth's own Gemma notebooks, with the compile on, run near the model's "
                "time, so that is the figure; the range reaches those runs' slowest, for a run where the compile "
                "fails or is turned off."]
    if h.why == throughput.UNCOMPILED:
        return [f"gpt-oss's steps are outside the fitted step-time model: Unsloth's per-block compile leaves its decoder "
                "layers uncompiled (more, smaller kernels to launch) and runs its attention through unsloth_zoo's flex "
                f"attention with sinks. {measured}; which of the two costs the time was not profiled."]
    if h.why == throughput.SHORT_CONV_UNMEASURED:
        return ["This model's short-convolution layers (LFM2's) were measured in no model: the step counts their "
                "projections' work and not the 3-tap depthwise convolution between them, a few passes over the tokens. "
                f"Its range reaches {h.high:.2f}x, the median that hybrids with heavier mixers (Mamba-2 scans, Gated "
                "DeltaNet) took through our stand-in for causal-conv1d."]
    if h.user_path:
        s = k.HYBRID_STEP
        return [f"This model has linear-attention layers, whose kernels the step-time model does not see: {measured}. "
                "They ran as a user's install does without the causal-conv1d package (transformers' torch "
                "convolution; fla's kernels as unsloth_zoo vendors them). Hybrids run through our torch stand-in for "
                f"causal-conv1d took {s['low']:.2f}-{s['high']:.2f}x, not a user's time; the range still reaches the "
                "slowest of them, in case other sizes or shapes spend more in these layers than those measured."]
    return [f"This model has linear-attention or Mamba layers, whose kernels the step-time model does not see: "
            f"{measured} (their median). They ran causal-conv1d through a torch stand-in for its CUDA kernel: "
            "with the compiled kernel installed, steps may be shorter."]


def _slow_attention_note(micro: throughput.StepTime) -> list[str]:
    """Where attention Unsloth runs slower than the fit's adds a share of the step worth saying (throughput.slow_attention)."""
    slow = micro.slow
    if slow is None or micro.slow_seconds < 0.05 * micro.seconds:
        return []
    if slow.why == throughput.MASKED:
        what = ("Gemma's attention on Unsloth is counted over the whole sequence on every layer (eager scores on Gemma "
                "3n, and on Gemma 2 without flash-attn 2.6.3 or later, which Unsloth's install does not bring, mask the "
                "sliding window rather than skip it)")
    elif slow.why == throughput.CHUNK_MASKED:
        what = ("Rows longer than Llama 4's attention chunk take an explicit chunked mask, which flash kernels do not "
                "run: its attention is counted over the whole sequence at the masked kernel's speed (Llama 4 Scout cut "
                "to 8 layers: 1.27 s a step at 16,384 tokens on an H100, this count 1.22)")
    else:
        what = (f"The attention of this model's layers with heads wider than {UNSLOTH_WIDE_HEAD_DIM} (Gemma 4's global "
                "layers) runs on Unsloth through its own kernel for such heads, not a flash kernel (its sliding layers "
                "skip their window)")
    runs = f"{slow.cells} long runs" if slow.cells > 1 else "one long run"
    spread = f"{slow.low:.1f}-{slow.high:.1f}x over " if slow.cells > 1 else ""
    return [f"{what}, and ran {slow.factor:.1f}x the fitted attention's time ({spread}{runs} of "
            f"{', '.join(slow.models)}, with the per-block compile off): {micro.slow_seconds:.2f} s of each "
            f"{micro.seconds:.2f} s micro-batch, growing with the square of the tokens a row."]


def _host_note(micro: throughput.StepTime) -> list[str]:
    """Where the host's fixed cost outlasts the GPU's work, say so and what does and does not shorten the step."""
    if not micro.host_set:
        return []
    gpu = micro.compute + micro.dequant
    return [f"Each {micro.seconds:.2f} s micro-batch is set by the host: {micro.fixed:.2f} s of the CPU launching the "
            f"step's kernels against {gpu:.2f} s of GPU work ({k.HOST_BOUND_SOURCE}). A faster GPU barely shortens it "
            "and a slower host CPU lengthens it; a larger micro-batch (fewer accumulation steps) costs little more per step. "
            f"Its range reaches {k.HOST_STEP_SPREAD:.2f}x either side of the estimate: {k.HOST_STEP_SPREAD_SOURCE}."]


def _padding_notes(run: RunConfig, padded: bool, counted: bool) -> list[str]:
    if not padded:
        return ["Rows are batched without padding (Unsloth does so by itself; with plain TRL set padding_free=True or "
                "packing=True, or expect longer steps)."]
    cost = ("at micro-batch 1 that costs nothing." if run.batch_size == 1 else
            "the step time is for the expected longest of its rows, from your dataset's lengths." if counted else
            "the time is computed at the mean row length, a lower bound when lengths vary; give the dataset file to "
            "count them, or bucket rows by length.")
    return ["Unsloth pads this family's micro-batches to their longest row (it never packs Gemma 2, gpt-oss or models with "
            "Mamba layers, and packs LFM2's short convolutions only with causal-conv1d installed, which its install "
            f"does not bring): {cost}"]


def _family_step_note(model_type: str, micro_tokens: int, step_s: float) -> list[str]:
    """What this family's steps were measured taking beyond the model (families.MEASURED_STEP_NOTES)."""
    note = step_note(model_type, micro_tokens, step_s)
    return [note] if note else []


def _sixteen_bit_note(run: RunConfig, model_type: str) -> list[str]:
    """A float32-forced family measured holding its 16-bit step without bf16: what a public run took beside our time."""
    note = None if run.bf16 or run.stack != "unsloth" else sixteen_bit_step_note(model_type)
    return [note] if note else []


def _fp32_note(gpu: GpuTarget, fp32: bool) -> list[str]:
    assert gpu.spec is not None
    if not fp32:
        return []
    if gpu.spec.tflops_fp32 is None:
        return [f"Unsloth trains this family in float32 on the {gpu.spec.name} (no bf16), but the table has no fp32 rate "
                "for it: the time assumes tensor cores and is too short."]
    return [f"Unsloth trains this family in float32 on the {gpu.spec.name} (no bf16; it overflows fp16): its matmuls run "
            f"at the fp32 rate, {gpu.spec.tflops_fp32:g} TFLOPS ({gpu.spec.tflops_fp32_source}), with the efficiency "
            "fitted on 16-bit runs: not measured."]
