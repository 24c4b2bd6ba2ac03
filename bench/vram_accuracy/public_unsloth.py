"""Our Unsloth-stack estimates side by side with Unsloth's own published figures.

    python bench/vram_accuracy/public_unsloth.py            # print the table
    python bench/vram_accuracy/public_unsloth.py --readme   # ... and write it into README.md

The points (public_unsloth.json, each with its link) are the "Peak reserved memory" Unsloth's
notebooks print after training, and the longest contexts its docs give per GPU. Two things make a
notebook's figure smaller than our estimate of the same settings, and are accounted for here:
- reserved memory leaves out the CUDA context (and what some families' kernels hold beside the allocator,
  measured: Qwen3.5's 6.6 GiB), so the estimate is compared without them
  (`beside_allocator`);
- notebook datasets are shorter than `max_seq_length`, so the estimate is given twice: at the rows'
  typical length (where the point records one) and at `max_seq_length` (an upper bound; with its error
  against the published peak where no typical length is recorded).
A point may name the notebook's LoRA `target_modules` (Whisper's notebook adapts q_proj and v_proj only).
A point whose model the catalog knows is estimated through estimate_vram as a user would ask it:
the catalog id, the notebook's method, rank, batch and the card's memory. The defect to look for is
a "does not fit" on a card where the notebook trained the model. Such a point may carry `explained`: the
measurement that shows the defect is a difference between the notebook's Unsloth version and the calibrated one
(our own run of the notebook's settings on the calibrated version), not an estimator error; the table says so.

Unsloth's model guides state one VRAM figure per model and method ("4B: 10GB"), without the sequence
length, batch, rank or GPU behind it. They get a table of their own (`guide_rows`): our estimate at
rank 16 (or the rank the guide names), batch 1, at 512 and 2,048 tokens, on a card of exactly the stated
size (GB read as GiB), allocator side only as for the notebooks, and estimate_vram's verdict for that
card at 512 tokens. A "does not fit" there is a candidate defect, not a proven one: the guide's settings
may be smaller than ours.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
POINTS = os.path.join(HERE, "public_unsloth.json")
README = os.path.join(HERE, "README.md")
MARKER = ("<!-- public-unsloth: begin -->", "<!-- public-unsloth: end -->")


def beside_allocator(catalog_id: str, gpu_total_gib: float) -> float:
    """GiB the estimate holds beside PyTorch's allocator (the CUDA context, what the family's kernels add there as
    measured, and the stack of spilling kernels on the GPU the estimate was given), which a notebook's
    max_memory_reserved never shows."""
    from finetune_advisor.catalog.store import load_packaged
    from finetune_advisor.gpus.target import by_memory
    from finetune_advisor.vram.constants import UNSLOTH_CONTEXT_GIB
    from finetune_advisor.vram.run import RunConfig
    from finetune_advisor.vram.shapes import shapes
    from finetune_advisor.vram.unsloth_stack import context_extra_gib, linear_attention_stack_gib

    entry = load_packaged().get(catalog_id)
    arch = entry.architecture if entry else None
    if arch is None:
        return UNSLOTH_CONTEXT_GIB
    stack = linear_attention_stack_gib(arch, shapes(arch), RunConfig(**by_memory(gpu_total_gib).silicon))[0]
    return UNSLOTH_CONTEXT_GIB + context_extra_gib(arch, shapes(arch)) + stack


def answer(point: dict, seq_len: int):
    """estimate_vram's answer for a point at `seq_len` tokens, as a user would ask it."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    return estimate_vram(model=point["catalog_id"], method=point["method"], seq_len=max(1, seq_len),
                         batch_size=point.get("batch_size") or 1, lora_rank=point.get("lora_rank") or 16,
                         target_modules=point.get("target_modules"), images_per_row=point.get("images_per_row", 0),
                         gpu_memory_gib=point["gpu_total_gib"], bf16=point.get("bf16", True), stack="unsloth")


def estimate(point: dict, seq_len: int) -> tuple[float, bool | None, bool]:
    """(estimated reserved GiB, beside-allocator memory left out; fits the card?; short by less than the estimate's
    expected error, which the answer calls close?) for a point at `seq_len` tokens."""
    from finetune_advisor.vram.fit import NEAR_NOTE_START

    result = answer(point, seq_len)
    close = any(a.startswith(NEAR_NOTE_START) for a in result.assumptions)
    return result.total_gib - beside_allocator(point["catalog_id"], point["gpu_total_gib"]), result.fits, close


def rows() -> list[tuple]:
    points = json.load(open(POINTS))["points"]
    out = []
    for p in points:
        if not p.get("catalog_id") or p.get("method") not in ("qlora", "lora") or not p.get("gpu_total_gib"):
            continue
        if not p.get("seq_len"):
            out.append((p, None, None, None, "not estimated: the notebook sets no max_seq_length"))
            continue
        try:
            at_max, fits_max, close_max = estimate(p, p["seq_len"])
            typical = min(p["typical_tokens"], p["seq_len"]) if p.get("typical_tokens") else None
            at_typical, fits_typical, close_typical = estimate(p, typical) if typical else (None, None, False)
        except Exception as exc:  # noqa: BLE001 - a point the tool cannot estimate is reported, not hidden
            out.append((p, None, None, None, f"not estimated: {str(exc)[:80]}"))
            continue
        # A notebook trained it at its typical row length; the context table at exactly seq_len tokens.
        trained = (p["kind"] == "notebook_peak_reserved" and typical) or p["kind"] == "context_table"
        fits, close = (fits_typical, close_typical) if typical else (fits_max, close_max)
        flag = "DEFECT: says it does not fit" if trained and fits is False else ""
        flag += " (close: within the estimate's error, the answer says it may fit)" if flag and close else ""
        flag += f"; explained: {p['explained']}" if flag and p.get("explained") else ""
        out.append((p, at_typical, at_max, fits, flag))
    return out


GUIDE_TOKENS = (512, 2048)


def guide_rows() -> list[tuple]:
    """Per model-guide point: (point, ours at each of GUIDE_TOKENS, verdict on a card of the stated size at the
    first of them)."""
    out = []
    for p in json.load(open(POINTS))["points"]:
        if p["kind"] != "model_guide" or not p.get("catalog_id"):
            continue
        card = {**p, "gpu_total_gib": p["peak_reserved_gib"], "batch_size": 1}
        found = [estimate(card, tokens) for tokens in GUIDE_TOKENS]
        _, fits, close = found[0]
        verdict = "fits" if fits else "close (the answer says it may fit)" if close else "does not fit"
        out.append((p, [gib for gib, *_ in found], verdict))
    return out


def guide_table(found: list[tuple]) -> str:
    head = " | ".join(f"ours at 1 x {t}" for t in GUIDE_TOKENS)
    lines = [f"| point | model, method, r | stated GB | {head} | on a card of the stated size, 1 x {GUIDE_TOKENS[0]} |",
             "|---|---|---|" + "---|" * len(GUIDE_TOKENS) + "---|"]
    for p, ours, verdict in found:
        stated = p["peak_reserved_gib"]
        cells = " | ".join(f"{v:.1f} ({100 * (v - stated) / stated:+.0f} %)" for v in ours)
        lines.append(f"| [{p['id']}]({p['source']}) | {p['catalog_id']}, {p['method']}, r{p.get('lora_rank') or 16} "
                     f"| {stated:g} | {cells} | {verdict} |")
    within = sum(abs(ours[0] - p["peak_reserved_gib"]) <= 0.15 * p["peak_reserved_gib"] for p, ours, _ in found)
    lines += ["", f"{len(found)} model-guide points: ours at 1 x {GUIDE_TOKENS[0]} within 15 % of the stated figure for "
              f"{within}; on a card of the stated size we say it does not fit for "
              f"{sum(v == 'does not fit' for *_, v in found)} and call {sum(v.startswith('close') for *_, v in found)} close."]
    return "\n".join(lines)


def table(found: list[tuple]) -> str:
    lines = ["| point | GPU | Unsloth | model, method, r, batch x tokens | published GiB | ours at typical rows | ours at max_seq_length | fits | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p, typical, at_max, fits, flag in found:
        published = p.get("peak_reserved_gib")
        tokens = f"{p.get('typical_tokens') or '?'} (max {p['seq_len']})"
        cell = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        err = err_max = ""
        if published and typical:
            err = f" ({100 * (typical - published) / published:+.0f} %)"
        elif published and at_max:  # no typical length recorded: ours at the longest rows, an upper bound
            err_max = f" ({100 * (at_max - published) / published:+.0f} %)"
        source = p["source"]
        link = f"[{p['id']}]({source})" if source.startswith("http") else f"{p['id']} ({source})"
        lines.append(f"| {link} | {p['gpu']} | {p.get('unsloth_version') or '?'} | {p['catalog_id']}, {p['method']}, r{p.get('lora_rank')}, {p.get('batch_size')} x {tokens} "
                     f"| {cell(published)} | {cell(typical)}{err} | {cell(at_max)}{err_max} | {fits} | {flag or p.get('notes', '')[:60]} |")
    defects = sum(f.startswith("DEFECT") for *_, f in found)
    errors = sorted((t - p["peak_reserved_gib"]) / p["peak_reserved_gib"] for p, t, *_ in found if t and p.get("peak_reserved_gib"))
    lines.append("")
    lines.append(f"{len(found)} points; {len(errors)} with a published peak and a typical row length: median error "
                 f"{100 * errors[len(errors) // 2]:+.0f} %, {sum(e < -0.05 for e in errors)} more than 5 % below the published peak; "
                 f"{defects} where we would say a model the notebook or table trained does not fit "
                 f"({sum('(close' in f for *_, f in found)} of them short by less than the estimate's expected error, "
                 f"which the answer says; {sum('; explained: ' in f for *_, f in found)} explained by a measured "
                 "difference between the notebook's Unsloth version and the calibrated one).")
    return "\n".join(lines)


# Unsloth 2025.8.5 (unsloth-zoo 2025.8.3) is the first to compute its Llama-path loss fused, chunk by chunk
# (unslothai/unsloth@806bee2 models/llama.py, unslothai/unsloth-zoo@4aa8bb07 fused_losses/); before it the forward
# ran lm_head over every token and took the loss from those logits (unslothai/unsloth@d2a032e models/llama.py,
# fast_cross_entropy_loss), which an estimate of 2026.10.9 does not hold.
FUSED_LOSS_FROM = (2025, 8, 5)


def _version(text: str | None) -> tuple[int, ...] | None:
    """'2024.9.post1' -> (2024, 9); None where no version was printed."""
    parts = re.findall(r"\d+", (text or "").split(".post")[0])
    return tuple(int(x) for x in parts) or None


def split_rows() -> list[tuple]:
    """Per LoRA / QLoRA notebook point with a start figure and a typical length: (point, era, published load,
    published step, ours load, ours step at the typical rows, ours step at max_seq_length, logits in a micro-batch of
    typical rows), GiB. The load is what the notebook reserved after loading, get_peft_model and the trainer's set-up
    (its `start_gpu_memory`), against our weights and adapters; the step is the rest of its peak, against the rest of
    our allocator-side estimate. A run's peak comes from its longest micro-batch, which lies between the two lengths."""
    out = []
    for p in json.load(open(POINTS))["points"]:
        start, version = p.get("start_reserved_gib"), _version(p.get("unsloth_version"))
        if (p["kind"] != "notebook_peak_reserved" or p.get("method") not in ("qlora", "lora")
                or not (p.get("catalog_id") and p.get("typical_tokens") and start)):
            continue
        typical = _parts(p, min(p["typical_tokens"], p["seq_len"]))
        longest = _parts(p, p["seq_len"])
        if typical is None or longest is None:
            continue
        era = "fused" if version and version >= FUSED_LOSS_FROM else "logits"
        out.append((p, era, start, p["peak_reserved_gib"] - start, typical[0], typical[1], longest[1], _logits(p)))
    return out


def _logits(point: dict) -> int | None:
    """Logits in one micro-batch of the point's typical rows: rows x tokens a row x the model's vocabulary; None for
    a speech model, whose head predicts audio codes (csm: 2,051 of them) and whose step is not its loss."""
    from finetune_advisor.catalog.store import load_packaged

    entry = load_packaged().get(point["catalog_id"])
    if {"tts", "stt"} & set(entry.specialised_for):
        return None
    return (point.get("batch_size") or 1) * min(point["typical_tokens"], point["seq_len"]) * entry.architecture.vocab_size


def _per_logit(step_gib: float, ours_gib: float, logits: int | None) -> float | None:
    """Bytes a logit of the micro-batch that the published step holds beyond ours."""
    return None if logits is None else (step_gib - ours_gib) * 2**30 / logits


def _parts(point: dict, seq_len: int) -> tuple[float, float] | None:
    """(weights and adapters, the rest of the allocator-side estimate) in GiB; None where the tool refuses the
    length (beyond the model's context: the main table says so)."""
    from finetune_advisor.errors import InvalidInputError

    try:
        result = answer(point, seq_len)
    except InvalidInputError:
        return None
    load = result.breakdown.weights + result.breakdown.adapters
    return load, result.total_gib - beside_allocator(point["catalog_id"], point["gpu_total_gib"]) - load


def split_table(found: list[tuple]) -> str:
    lines = ["| point | Unsloth | loss | load: published | ours | step: published | ours at typical rows "
             "| ours at max_seq_length | logits a micro-batch | step above ours, bytes a logit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p, era, load, step, our_load, at_typical, at_max, logits in found:
        lines.append(f"| {p['id']} | {p.get('unsloth_version') or '?'} | {era} | {load:.1f} | {our_load:.1f} | "
                     f"{step:.2f} | {at_typical:.2f} ({at_typical - step:+.2f}) | {at_max:.2f} ({at_max - step:+.2f}) | "
                     + (f"{logits / 1e6:,.0f}M | {_per_logit(step, at_typical, logits):+.1f} |" if logits else "- | - |"))
    lines.append("")
    for era, words in (("logits", "before Unsloth 2025.8.5 (loss from the full logits)"),
                       ("fused", "from Unsloth 2025.8.5 on (fused loss)")):
        group = [row[2:7] for row in found if row[1] == era]
        if group:
            lines.append(f"- {words}: {len(group)} points; ours minus published, median: load "
                         f"{statistics.median([o - a for a, _, o, _, _ in group]):+.2f} GiB; step "
                         f"{statistics.median([t - b for _, b, _, t, _ in group]):+.2f} GiB at the typical rows, "
                         f"{statistics.median([m - b for _, b, _, _, m in group]):+.2f} at max_seq_length; the step above ours "
                         f"at max_seq_length in {sum(m < b for _, b, _, _, m in group)}.")
    by_year: dict[int, list[tuple]] = {}
    for row in found:
        version = _version(row[0].get("unsloth_version"))
        if version:
            by_year.setdefault(version[0], []).append(row)
    for year, group in sorted(by_year.items()):
        gib = [row[3] - row[5] for row in group]
        per = [x for x in (_per_logit(row[3], row[5], row[7]) for row in group) if x is not None]
        lines.append(f"- Unsloth {year}.x: {len(group)} points; the published step above ours at the typical rows, "
                     f"median {statistics.median(gib):+.2f} GiB ({min(gib):+.2f} to {max(gib):+.2f}), "
                     f"{statistics.median(per):+.1f} bytes a logit of the micro-batch (text models).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", action="store_true", help="write the table into bench/vram_accuracy/README.md")
    args = ap.parse_args()
    text = (table(rows()) + "\n\nWhere the difference lies, load or training step (notebooks that print both):\n\n"
            + split_table(split_rows())
            + "\n\nUnsloth's model guides (settings not stated; see the module's docstring):\n\n" + guide_table(guide_rows()))
    print(text)
    if args.readme:
        readme = open(README).read()
        block = f"{MARKER[0]}\n{text}\n{MARKER[1]}"
        pattern = re.compile(re.escape(MARKER[0]) + ".*?" + re.escape(MARKER[1]), re.S)
        readme = pattern.sub(lambda _: block, readme) if pattern.search(readme) else readme + "\n" + block + "\n"
        with open(README, "w") as fh:
            fh.write(readme)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
