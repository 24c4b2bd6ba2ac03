"""The harness's varied-row cells (bench/vram_calibration/unsloth_sft.py, CALIB_VARY): rows of changing length in a
fixed order, whose longest micro-batch is exactly the cell's shape, so that its peak can be held against the
fixed-length prediction of that shape."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"))
import unsloth_sft  # noqa: E402

sys.path.pop(0)


def test_the_middle_step_is_the_cells_shape_and_every_other_row_is_shorter_or_equal() -> None:
    batch, steps, seq = 2, 60, 2048
    lengths = unsloth_sft.varied_lengths(batch, steps, seq)
    assert len(lengths) == batch * steps
    by_step = [lengths[i * batch:(i + 1) * batch] for i in range(steps)]
    assert by_step[steps // 2] == [seq, seq]
    assert all(seq // 8 <= n <= seq for n in lengths)
    assert max(sum(rows) for rows in by_step) == batch * seq  # no micro-batch holds more tokens than the shape
    assert len({sum(rows) for rows in by_step}) > steps // 2  # the shapes really change from step to step
    assert unsloth_sft.varied_lengths(batch, steps, seq) == lengths  # the same rows in every run of the plan


def test_only_a_cell_with_calib_vary_varies() -> None:
    assert unsloth_sft.vary_steps({}) is None
    assert unsloth_sft.vary_steps({"CALIB_VARY": "60"}) == 60


DATA = Path(__file__).resolve().parents[2] / "bench" / "vram_calibration" / "data" / "unsloth_sft_1gpu.jsonl"


def test_an_lfm2_answer_says_what_varied_rows_held_with_the_measured_and_counted_figures() -> None:
    """LFM2.5's run on rows of varied length (round 51) peaked at about twice its fixed-length figure, and ran to the end
    with the allocator capped at 4 GiB (round 52): its answers say both, with the figures of the record and of today's estimate for that shape (a refit that moves either fails here
    until the sentence is brought up to date); a family without such a run gets no such sentence."""
    import json

    from finetune_advisor.vram.architecture import Architecture
    from finetune_advisor.vram.estimator import RunConfig, estimate

    rec = next(json.loads(line) for line in DATA.open() if "LFM2.5" in line and "CALIB_VARY" in line)
    arch = Architecture.from_hf_config(rec["config"])
    run = RunConfig(method="lora", seq_len=rec["seq_len"], batch_size=rec["batch_size"], stack="unsloth")
    answer = estimate(arch, run)
    said = next(note for note in answer.assumptions if note.startswith("LFM2 on rows of varied length"))
    assert f"{rec['nvml_process_peak_bytes'] / 2**30:.1f} GiB as nvidia-smi shows it" in said
    assert f"against {answer.total_gib:.1f} counted for {rec['batch_size']} x {rec['seq_len']:,}" in said
    capped = next(json.loads(line) for line in DATA.open() if "LFM2.5" in line and "CALIB_VARY" in line and "/4g/" in line)
    assert capped["status"] == "ok" and len(capped["step_peaks"]) == capped["varied_rows"]["steps"]  # ran to the end
    assert f"ran to the end at {capped['nvml_process_peak_bytes'] / 2**30:.1f} GiB as nvidia-smi shows it" in said
    assert f"({capped['peak_reserved_bytes'] / 2**30:.1f} reserved)" in said
    above = capped["nvml_process_peak_bytes"] / 2**30 / answer.total_gib - 1
    assert f"about {round(above * 100)} % more than this estimate free" in said
    llama = Architecture(model_type="llama", hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, intermediate_size=8192, vocab_size=128256)
    assert not any("rows of varied length" in note for note in estimate(llama, run).assumptions)
