"""The committed Unsloth-stack estimator against the committed Unsloth measurements
(bench/vram_calibration/data/unsloth_sft_1gpu.jsonl, scored as bench/vram_accuracy/fit_unsloth.py does).

They fail when a change to the estimator moves it away from what Unsloth really held on a GPU, or
when new cells are committed without refitting (fit_unsloth.py --write).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from finetune_advisor.vram import constants as k
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.activations import UNSLOTH_PEFT
from finetune_advisor.vram.estimator import RunConfig, estimate, estimate_on_card, trial_kept
from finetune_advisor.vram.shapes import shapes
from finetune_advisor.vram.unsloth_stack import gemma_mlp_bytes, router_path_bytes, unsloth_offloads

BENCH = Path(__file__).resolve().parents[2] / "bench" / "vram_accuracy"


def _bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("fit_unsloth_bench", BENCH / "fit_unsloth.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = module  # type: ignore[union-attr]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(BENCH))
    return module


BENCH_MODULE = _bench()
CELLS = BENCH_MODULE.load()
MEASURED = [c for c in CELLS if not c.emulated]


def test_no_measured_unsloth_run_is_under_estimated_by_more_than_5_percent() -> None:
    """An under-estimate is the error that crashes a user's run."""
    under = [(c.id, round(BENCH_MODULE.error(c), 3)) for c in CELLS if BENCH_MODULE.error(c) < -0.05]
    assert under == []


def test_what_a_run_needs_under_a_capped_allocator_covers_its_peak_and_not_more_than_the_margin() -> None:
    """need_gib (the peak less what the allocator gives back when memory runs short: OLMo 3's padded lm_head copies)
    against the runs whose allocator was capped (round 76: 12 GiB; round 77: 8 GiB and an emulated RTX 4090): no more
    than issue 11's 5 % under what the run took, nor more than the margin over it; and every capped run that ran out of
    memory with such a cache counted needs more than the cap and the context beside it. Round 77's OLMo 3 32B at
    8,192 tokens took 23.00 GiB under the 4090's cap where its need reads 22.05 (-4.1 %): the cap bound that run
    (it took the whole cap), so what it took is the cap, not its need. Each is estimated as on a real card that leaves Unsloth the memory the emulated one did
    (estimate_on_card: where it puts the embedding, and its loss chunks sized to what is left: OLMo 3 7B at 2,048
    tokens under 8 GiB took 0.6 GiB less than uncapped, and its need reads +3.2 % with the smaller chunks, +8.7 % at
    the 4 GiB cap)."""
    ran = ran_out = 0
    for c in CELLS + BENCH_MODULE.load(status="oom"):
        usable = BENCH_MODULE.unsloth_usable_gib(c)
        if usable is None:
            continue
        _, est = estimate_on_card(c.arch, c.run, usable, params_total=c.params_total, takes_images=c.images)
        if not est.cache_gib:
            continue
        need = est.need_gib - (0.0 if c.fresh else est.first_step_gib)
        if c.measured:
            assert c.measured * 0.95 <= need <= c.measured * (1 + est.margin), c.id
            ran += 1
        else:
            cap = c.record["emulation"].get("allocator_gib", c.record["emulation"]["total_gib"])
            assert need > cap + c.record["cuda_context_bytes"] / 2**30, c.id
            ran_out += 1
    assert ran >= 4 and ran_out >= 2


def test_unsloths_loss_chunks_are_sized_to_the_memory_left_on_a_small_card() -> None:
    """OLMo 3 7B QLoRA at 2,048 tokens: Unsloth sizes its fallback loss's chunks to half the memory free when the
    first step reaches the loss (at most 4 GiB), so under an 8 GiB cap it took 0.6 GiB less than uncapped. Counted at
    the cap, the need read 8.7 % over that run; sized to the card, within 5 %. On an 80 GB card the chunk is the
    whole step, as before."""
    c = next(c for c in CELLS if c.id == "olmo-3-7b/qlora-on-load/r16/b1x2048/8g")
    run, est = estimate_on_card(c.arch, c.run, BENCH_MODULE.unsloth_usable_gib(c), params_total=c.params_total)
    assert run.loss_budget_gib is not None and run.loss_budget_gib < 2
    assert c.measured <= est.need_gib <= c.measured * 1.05
    roomy, _ = estimate_on_card(c.arch, c.run, 79.0, params_total=c.params_total)
    assert roomy.loss_budget_gib is None


def test_median_and_p90_error_are_within_the_target() -> None:
    errors = [abs(BENCH_MODULE.error(c)) for c in MEASURED]
    assert BENCH_MODULE.median(errors) <= 0.05
    assert BENCH_MODULE.quantile(errors, 0.9) <= 0.10


def test_trainable_parameters_are_what_unsloth_created() -> None:
    """Every measured cell, microsoft/phi-4's fused layout included (21.3M at rank 16: o_proj and down_proj only)."""
    for c in CELLS:
        counted = estimate(c.arch, c.run, params_total=c.params_total).trainable_params_m * 1e6
        assert counted == pytest.approx(c.record["trainable_params"], rel=0.05), c.id


@pytest.mark.parametrize("method", ["qlora", "lora"])
def test_weights_and_adapters_match_what_unsloth_loaded(method: str) -> None:
    """Weights in their storage plus the fp32 adapters, against the allocator right after get_peft_model. What it
    holds there beside the parameters (buffers; ERNIE 4.5 0.3B: 33.6 MB in 16 bits, 38.4 in 4 bits, 10 % of its 0.37 GiB
    4-bit load) is the fixed part's, so a small model is held to 0.04 GiB instead of 5 %."""
    for c in (c for c in MEASURED if c.run.method == method):
        b = estimate(c.arch, c.run, params_total=c.params_total).breakdown
        assert b.weights + b.adapters == pytest.approx(c.record["weights_bytes"] / 1024**3, rel=0.05, abs=0.04), c.id


def test_constants_were_fitted_on_this_data() -> None:
    assert f"on {len(MEASURED)} measured Unsloth cells" in k.UNSLOTH_FIT_SOURCE


def test_gemma4_moe_qlora_is_sized_for_the_calibrated_unsloth_and_warns_about_older_ones() -> None:
    # Unsloth 2026.10.9 quantises Gemma 4 26B-A4B's experts: 22.37 GiB at r16, 1x2048 (round 4, held out). Its
    # 2026.4.4 notebook left them 16-bit (46.4 GB reserved after loading): a user on that version needs ~30 GiB more.
    from finetune_advisor.tools.estimate_vram import estimate_vram

    result = estimate_vram(model="gemma-4-26b-a4b", method="qlora", lora_rank=16, seq_len=2048, gpu_memory_gib=80)
    assert 22.37 * 0.98 <= result.total_gib <= 22.37 * 1.1  # the fit lets a cell sit up to 2 % under its peak
    older = [a for a in result.assumptions if "2026.4.4" in a]
    assert older and "16-bit" in older[0] and "Use a current Unsloth" in older[0]


def test_gemma3n_holds_its_eager_attention_square_over_the_whole_packed_step() -> None:
    """Unsloth runs Gemma 3n's attention eagerly and packs its rows: at 8,192 tokens a step peaked at 19.6-19.7 GiB
    whether they came as one row, two or four (rounds 32-33), where a count without the scores said 14.5 and a
    per-row square 17.1. Gemma 2, which Unsloth pads instead, keeps its squares per row."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    one, two, four = (estimate_vram(model="gemma-3n-e4b", method="qlora", seq_len=8192 // rows, batch_size=rows,
                                    gpu_memory_gib=80) for rows in (1, 2, 4))
    assert one.total_gib == two.total_gib == four.total_gib
    assert one.breakdown.activations > 5.0  # four GiB of it the 8 heads' 8,192^2 scores, 8 bytes each
    assert any(a.startswith("Eager attention (Gemma 3n)") for a in one.assumptions)
    padded = [estimate_vram(model="gemma-2-9b", method="qlora", seq_len=8192 // rows, batch_size=rows,
                            gpu_memory_gib=80).total_gib for rows in (1, 2)]
    assert padded[1] < padded[0] - 2
    cells = [c for c in MEASURED if c.arch_name == "gemma-3n-E4B-it" and c.run.seq_len * c.run.batch_size == 8192]
    assert len(cells) >= 4 and all(abs(BENCH_MODULE.error(c)) <= 0.03 for c in cells)


def test_olmo3_is_given_the_padded_head_copies_its_trace_held() -> None:
    """OLMo 3 7B's first cells (round 47) came in 1.59-1.75 GiB over the count at 2,048 and 8,192 tokens, QLoRA and
    16-bit LoRA alike (up to 20 % under): a constant, traced to two 100,280 x 4,096 16-bit buffers of a compiled graph
    (round 50): Inductor's padded copies of lm_head in the chunked loss, for a vocabulary not a multiple of 8. The
    same shapes with an aligned vocabulary, or on Unsloth's own forward (llama), do not get them, and every OLMo 3
    cell, 512 to 16,384 tokens, reads within 7 % over and none under."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    base = {"num_hidden_layers": 4, "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 100278, "tie_word_embeddings": False}
    olmo, aligned, llama = (estimate_vram(architecture={**base, **more}, method="qlora", gpu_memory_gib=24)
                            for more in ({"model_type": "olmo3"}, {"model_type": "olmo3", "vocab_size": 100280},
                                         {"model_type": "llama"}))
    copies = 2 * 2 * 100280 * 4096 / 2**30
    assert olmo.total_gib - aligned.total_gib == pytest.approx(copies, abs=0.02)
    assert any(a.startswith("The vocabulary (100,278) is not a multiple of 8") and f"{copies:.2f} GiB" in a
               for a in olmo.assumptions)
    assert not any("not a multiple of 8" in a for a in (*aligned.assumptions, *llama.assumptions))
    cells = [c for c in MEASURED if c.arch_name == "olmo-3-7b"]
    assert len(cells) >= 6 and all(-0.02 <= BENCH_MODULE.error(c) <= 0.07 for c in cells)


def test_a_moe_gemma_is_not_given_the_softcapped_gemmas_extra_recompute() -> None:
    """Gemma 4 26B-A4B's steady peak falls inside a MoE layer's backward (traced, round 32): counting the dense
    softcapped Gemmas' extra on top put its QLoRA cells 2-9 % over; without it each of its cells is within 5 % under
    and 6 % over (its 4,096-token cell, +5.04 % since round 40's refit, measured below its 2,048-token one)."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    moe, dense = (estimate_vram(model=m, method="qlora", seq_len=2048, gpu_memory_gib=80)
                  for m in ("gemma-4-26b-a4b", "gemma-4-31b"))
    assert all(e.breakdown.logits_and_loss == 0.0 for e in (moe, dense))
    extra = "Gemma with final-logit softcapping"
    assert any(a.startswith(extra) and "no MoE layer adds it" in a for a in moe.assumptions + dense.assumptions)
    cells = [c for c in MEASURED if c.arch_name == "gemma-4-26B-A4B-it"]
    assert len(cells) >= 5 and all(-0.05 <= BENCH_MODULE.error(c) <= 0.06 for c in cells)


def test_a_softcapped_family_other_than_gemma_is_not_called_gemma() -> None:
    """The softcapped Gemmas' extra is keyed on final_logit_softcapping, so a pasted config of another family with it
    (Muse Glimmer, say) gets the term too, the safe side; its answer says the term was measured on the Gemmas only
    instead of calling the model a Gemma."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    config = {"model_type": "muse_glimmer_text", "num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 768,
              "num_attention_heads": 4, "vocab_size": 1000, "final_logit_softcapping": 20.0}
    notes = estimate_vram(architecture=config, method="qlora", gpu_memory_gib=24).assumptions
    assert any(n.startswith("Final-logit softcapping, measured on the Gemmas only") for n in notes)
    assert not any(n.startswith("Gemma with") for n in notes)


def test_gemma4_with_per_layer_inputs_keeps_its_layer_outputs_on_the_gpu() -> None:
    """Traced (rounds 34c-d): at the peak of Gemma 4 E4B's QLoRA step at 16,384 tokens, 40 of its 42 layer outputs
    (16,384 x 2,560 x 2 bytes each) and one 16,384^2 boolean mask were on the GPU, and the prediction made without
    them came 6.6 % under. Dense Gemma 4 31B, which has no per-layer inputs, held neither. Counted, E4B's cell is
    3.9 % over and E2B's 10.0 % over since round 56's refit (7.1 % before round 44; its 32,768-token cell
    alone 2.0 % under then: the two lengths pull the fit apart)."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    e4b = estimate_vram(model="gemma-4-e4b", method="qlora", seq_len=16384, gpu_memory_gib=80)
    kept = [a for a in e4b.assumptions if a.startswith("Gemma 4 with per-layer inputs")]
    assert len(kept) == 1 and "(3.12 GiB of the activations here" in kept[0]  # 40 x 16,384 x 2,560 x 2 bytes
    masks = [a for a in e4b.assumptions if a.startswith("1 boolean seq_len^2 attention mask ")]
    assert len(masks) == 1 and "(0.25 GiB of the activations here" in masks[0]
    for other in ("gemma-4-31b", "qwen3-30b-a3b"):  # the MoE's first-step trial keeps layers of its own
        answer = estimate_vram(model=other, method="qlora", seq_len=16384, gpu_memory_gib=80)
        assert not any(a.startswith("Gemma 4 with per-layer inputs") or "seq_len^2 attention mask" in a
                       for a in answer.assumptions), other
    cells = [c for c in MEASURED if c.arch_name in ("gemma-4-E4B-it", "gemma-4-E2B-it")
             and c.run.seq_len * c.run.batch_size == 16384]
    assert len(cells) >= 2 and all(-0.02 <= BENCH_MODULE.error(c) <= 0.105 for c in cells)  # E2B's +10.0 %


def test_sliding_window_gemmas_hold_attention_masks_that_grow_with_the_square_of_the_length() -> None:
    """Traced (round 36e): at the peak of Gemma 4 12B's QLoRA step at 8,192 tokens, two 8,192^2 boolean masks from
    transformers' sdpa_mask (through Unsloth's _unmask_rows_attending_to_nothing) were on the GPU; the 31B held none.
    Small at the measured lengths, they are 8 GiB at 65,536 tokens, where a count linear in the tokens falls short.
    The cells between 8,192 and 32,768 tokens read 8-16 % over: the softcapped MLP term they share with Gemma 2 and 3n
    rose in round 44's refit (3n's 16,384-token cell came 3.8 % under), from 11.5-12.9 % before."""
    from finetune_advisor.vram.families import masks_held_on_unsloth

    cell = {c.arch_name: c for c in MEASURED}
    names = ("gemma-4-12B", "gemma-4-31B-it", "gemma-3-4b-it", "gemma-3-12b-it", "gemma-4-E4B-it")
    held = {name: masks_held_on_unsloth(cell[name].arch.model_type, cell[name].arch.hidden_size_per_layer_input)
            for name in names}
    assert held == {"gemma-4-12B": 2, "gemma-4-31B-it": 0, "gemma-3-4b-it": 0, "gemma-3-12b-it": 0, "gemma-4-E4B-it": 1}
    twelve = cell["gemma-4-12B"]
    short, long = (estimate(twelve.arch, twelve.run.model_copy(update={"seq_len": n, "batch_size": 1}),
                            params_total=twelve.params_total) for n in (8192, 65536))
    notes = [[a for a in e.assumptions if a.startswith("2 boolean seq_len^2 attention masks")] for e in (short, long)]
    assert "(0.12 GiB of the activations here" in notes[0][0] and "(8.00 GiB of the activations here" in notes[1][0]
    linear = short.breakdown.activations - 0.125  # eight times as many tokens: the rest grows eight-fold
    assert long.breakdown.activations == pytest.approx(8 * linear + 8.0, abs=0.01)
    cells = [c for c in MEASURED if c.arch_name == "gemma-4-12B"]
    assert len(cells) >= 5 and all(-0.03 <= BENCH_MODULE.error(c) <= 0.17 for c in cells)  # 98,304 tokens: -2.0 %


def test_gemma_3s_peak_grows_linearly_with_the_length_through_its_compiled_mlp() -> None:
    """Gemma 3 4B's allocated peak grew 1.51 GiB from 8,192 to 16,384 tokens and 3.09 from 16,384 to 32,768 (round 38):
    linear, where round 37 had kept a seq_len^2 allowance that put the 32,768-token cell 15 % over. Traced at 16,384
    (round 38c), the peak held six MLP-width tensors of the compiled MLP and nothing growing with the square. So Gemma 3
    gets its own per-MLP-unit term, no square, and the answer names neither masks nor an untraced allowance; every
    Gemma 3 4B and 12B cell, 2,048 to 32,768 tokens, is within 3 %, and 270M's (round 44) within 5 %."""
    four = next(c for c in MEASURED if c.arch_name == "gemma-3-4b-it")
    e = estimate(four.arch, four.run.model_copy(update={"seq_len": 16384, "batch_size": 1}),
                 params_total=four.params_total)
    assert k.UNSLOTH_GEMMA3_MLP_BYTES > 0
    assert gemma_mlp_bytes(four.arch, shapes(four.arch)) == pytest.approx(k.UNSLOTH_GEMMA3_MLP_BYTES * 10240)
    assert any(a.startswith("Gemma 3: Unsloth's compiled MLP holds more per token") for a in e.assumptions)
    assert not any("seq_len^2" in a for a in e.assumptions)
    runs = [four.run.model_copy(update={"seq_len": n, "batch_size": 1}) for n in (8192, 16384, 32768)]
    act = [estimate(four.arch, run, params_total=four.params_total).breakdown.activations for run in runs]
    assert act[2] - act[1] == pytest.approx(2 * (act[1] - act[0]), rel=0.01)  # linear in the tokens
    gemma3 = [c for c in MEASURED if c.arch_name.startswith("gemma-3-") and not c.emulated]  # float32: its own square
    assert len(gemma3) >= 10 and max(c.run.seq_len for c in gemma3) == 32768
    assert all(-0.03 <= BENCH_MODULE.error(c) <= 0.03 for c in gemma3 if c.arch_name != "gemma-3-270m-it")
    assert all(abs(BENCH_MODULE.error(c)) <= 0.05 for c in gemma3)  # 270M, 8 packed rows in bf16: -4.1 %


def test_the_softcapped_gemmas_extra_follows_their_widest_mlp() -> None:
    """With the kept outputs counted, E2B needed 131 KB a token beyond the layer count and E4B 111 KB, in the ratio
    of their widest MLPs (E2B's KV-shared layers are twice as wide as its 6,144), where a per-vocabulary-entry term
    gave both the same (round 34). Gemma 3, without final-logit softcapping, has a term of its own; the MoE 26B-A4B
    gets none."""
    arch = {c.arch_name: c.arch for c in MEASURED}
    e2b, e4b = (arch[name] for name in ("gemma-4-E2B-it", "gemma-4-E4B-it"))
    assert e2b.intermediate_size == 6144 and e4b.intermediate_size == 10240
    extra = {name: gemma_mlp_bytes(a, shapes(a)) for name, a in arch.items() if name.startswith("gemma")}
    assert extra["gemma-4-E2B-it"] == pytest.approx(k.UNSLOTH_SOFTCAP_MLP_BYTES * 2 * 6144)
    assert extra["gemma-4-E4B-it"] == pytest.approx(k.UNSLOTH_SOFTCAP_MLP_BYTES * 10240)
    assert extra["gemma-3-4b-it"] == pytest.approx(k.UNSLOTH_GEMMA3_MLP_BYTES * 10240)
    assert extra["gemma-4-26B-A4B-it"] == 0.0
    assert extra["gemma-2-9b"] > 0 and extra["gemma-3n-E4B-it"] > 0 and extra["gemma-4-31B-it"] > 0


def test_on_a_gpu_without_bf16_the_softcapped_mlp_extra_stays_16_bit() -> None:
    """Traced on the emulated T4 (round 36c): Gemma 4 E4B's kept layer outputs were fp32 there, but its compiled MLP's
    tensors stayed 16-bit, so the softcapped extra is not doubled with the rest of the fp32 activations; counted so,
    the emulated T4 cells of E4B at 1,024 and 4,096 tokens are within 5.5 % above their peaks (they were 5-14 % over;
    round 47's refit put the 1,024-token cell at +5.1 %, its fixed allocations 0.014 GiB higher)."""
    cell = {c.arch_name: c for c in MEASURED}["gemma-4-31B-it"]  # softcapped, no kept outputs, no masks
    runs = [cell.run.model_copy(update={"seq_len": 4096, "batch_size": 1, "bf16": bf16}) for bf16 in (True, False)]
    bf16, t4 = (estimate(cell.arch, run, params_total=cell.params_total).breakdown.activations for run in runs)
    extra = gemma_mlp_bytes(cell.arch, shapes(cell.arch)) * 4096 / 2**30
    assert extra > 0.5 and t4 == pytest.approx(2 * bf16 - extra, abs=0.01)
    emulated = [c for c in CELLS if c.emulated and c.arch_name == "gemma-4-E4B-it" and "memfix" in c.id]
    assert len(emulated) >= 2 and all(0.0 <= BENCH_MODULE.error(c) <= 0.055 for c in emulated)


def _t4_notebooks() -> list[dict]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "vram_accuracy" / "public_unsloth.json"
    points = json.loads(path.read_text())["points"]
    return [p for p in points if p["kind"] == "notebook_peak_reserved" and p["gpu"] == "Tesla T4" and p["catalog_id"]
            and p.get("typical_tokens") and not p["catalog_id"].startswith("gpt-oss")]


@pytest.mark.parametrize("point", _t4_notebooks(), ids=lambda p: p["id"])
def test_what_unsloths_free_t4_notebooks_train_fits_a_t4(point: dict) -> None:
    # A false "does not fit" costs a user the right model. gpt-oss is left out on purpose: our own runs with the
    # current Unsloth reserve more than its 2025 notebook did (bench/vram_accuracy/README.md).
    from finetune_advisor.tools.estimate_vram import estimate_vram

    # At the rows' typical length (typical_tokens: each row of a typical micro-batch, the file's header says), and at
    # max_seq_length, which a run's longest micro-batch may reach. Gemma 3 270M's 8 rows at max_seq_length are the
    # exception: on Unsloth 2026.10.9 they ran out of memory on the emulated T4 (round 44), where its notebooks ran on
    # 2025.8.9 (rows padded, each its own square) and on 2025.12.9 with rows of about 700 tokens.
    for seq_len in (point["typical_tokens"], point["seq_len"]):
        result = estimate_vram(model=point["catalog_id"], method=point["method"], seq_len=seq_len,
                               batch_size=point["batch_size"], lora_rank=point["lora_rank"] or 16, gpu="T4")
        measured_oom = _t4_oom(point["catalog_id"], point["batch_size"], seq_len)
        assert result.fits != measured_oom, (point["id"], seq_len, result.total_gib)


def _records() -> list[dict]:
    """Every committed Unsloth record, as the harness wrote it (ok, oom and error)."""
    import json

    data = Path(__file__).resolve().parents[2] / "bench" / "vram_calibration" / "data" / "unsloth_sft_1gpu.jsonl"
    return [json.loads(line) for line in data.read_text().splitlines() if line.strip()]


def _t4_oom(catalog_id: str, batch: int, seq_len: int) -> bool:
    """Whether our own run of this model at this shape on the emulated T4 ran out of memory, with any method (the
    LoRA run that did so holds less than full fine-tuning would). Our records name the model's Unsloth checkpoint."""
    names = {"gemma-3-270m": "gemma-3-270m-it"}
    return any(r["status"] == "oom" and r.get("emulation") and r["arch"] == names.get(catalog_id)
               and (r["batch_size"], r["seq_len"]) == (batch, seq_len) for r in _records())


def test_gpt_oss_on_a_t4_says_what_unsloth_2026_10_9_did_with_the_notebooks_settings() -> None:
    # Round 18, emulated T4: LoRA on every expert (the MLP names) ran out of memory at r 8 x 1,024 tokens, where we say
    # it does not fit; LoRA on attention only fit. The answer says both, and only where the MLP names are targeted.
    from finetune_advisor.tools.estimate_vram import estimate_vram
    from finetune_advisor.vram.terms import GPT_OSS_EXPERT_LORA_NOTE

    notebook = estimate_vram(model="gpt-oss-20b", gpu="T4", lora_rank=8, seq_len=1024)
    assert not notebook.fits and GPT_OSS_EXPERT_LORA_NOTE in notebook.assumptions
    assert notebook.trainable_params_m == pytest.approx(92.455, abs=0.01)  # what Unsloth 2026.10.9 created
    attention = estimate_vram(model="gpt-oss-20b", gpu="T4", lora_rank=8, seq_len=1024,
                              target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    assert GPT_OSS_EXPERT_LORA_NOTE not in attention.assumptions
    assert attention.trainable_params_m == pytest.approx(3.981, abs=0.01)  # the 2025.8 notebook's printed count
    assert GPT_OSS_EXPERT_LORA_NOTE not in estimate_vram(model="qwen3-30b-a3b", gpu="T4").assumptions


def test_an_unsloth_answer_names_the_versions_it_is_calibrated_for() -> None:
    # Issue 11: the figure depends on the Unsloth and transformers versions (Gemma 4's experts were 16-bit in 2026.4).
    from finetune_advisor.tools.estimate_vram import estimate_vram

    said = [a for a in estimate_vram(model="llama-3.1-8b", gpu_memory_gib=24).assumptions if a.startswith("Unsloth figures:")]
    assert said and "unsloth 2026.10.9" in said[0] and "transformers 5.17.0" in said[0]
    assert not any(a.startswith("Unsloth figures:") for a in
                   estimate_vram(model="llama-3.1-8b", gpu_memory_gib=24, stack="transformers").assumptions)


def test_an_unsloth_answer_says_what_rows_of_varied_length_added_where_measured() -> None:
    """Every cell's rows are seq_len long; a user's are not. The background gives the measured varied-row run's extra
    reservation over its fixed-row twin, from the committed records."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    records = {r["cell"]: r for r in _records() if r["status"] == "ok"}
    background = " ".join(estimate_vram(model="llama-3.2-3b", gpu="T4", detail=True).background)
    for varied_id, fixed_id in (("Llama-3.2-3B/qlora-on-load/r16/b2x2048/t4/CALIB_VARY=60",
                                 "Llama-3.2-3B/qlora-on-load/r16/b2x2048/t4"),
                                ("gemma-3-270m-it/lora/r128/b8x875/t4/CALIB_VARY=100/UNSLOTH_BLOCK_COMPILE=0",
                                 "gemma-3-270m-it/lora/r128/b8x875/t4/UNSLOTH_BLOCK_COMPILE=0")):
        varied, fixed = records[varied_id], records[fixed_id]
        extra = (varied["peak_reserved_bytes"] - fixed["peak_reserved_bytes"]) / 2**30
        assert varied["peak_allocated_bytes"] == pytest.approx(fixed["peak_allocated_bytes"], rel=0.01)
        share = round(100 * extra * 2**30 / fixed["nvml_process_peak_bytes"])
        assert f"{extra:.2f} GiB ({share} %) more" in background, varied_id


def test_moe_answers_say_what_the_first_step_of_a_fresh_process_holds() -> None:
    """Qwen3-MoE's first step holds every MoE layer's compiled trial forward while the router's aux loss keeps it
    (counted, with the switches that should avoid it); gpt-oss's layers are not compiled one by one, and Gemma 4's
    router has no aux loss for trl to turn on: both are said to hold nothing more."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    def moe_note(model: str, **kw: object) -> str:
        answer = estimate_vram(model=model, gpu_memory_gib=80, **kw)  # type: ignore[arg-type]
        return next(a for a in answer.assumptions if "first" in a and "MoE" in a)

    qwen = moe_note("qwen3-30b-a3b", seq_len=8192)
    assert "GiB more than later ones" in qwen and "router_aux_loss_coef=0.0" in qwen and "24.9 with the aux loss off" in qwen
    off = estimate_vram(model="qwen3-30b-a3b", seq_len=8192, gpu_memory_gib=80, router_aux_loss=False)
    said = float(re.search(r"the peak is ([\d.]+) GiB", qwen).group(1))  # the figure the switch gives, said beside
    assert said == pytest.approx(off.total_gib, abs=0.051)  # the default's (rounded from bytes: 28.15 reads 28.2)
    assert "router aux loss off" in moe_note("qwen3-30b-a3b", seq_len=8192, router_aux_loss=False)
    assert "does not compile this family's layers" in moe_note("gpt-oss-20b")
    assert "no router auxiliary loss" in moe_note("gemma-4-26b-a4b")
    assert "GiB more than later ones" in moe_note("mixtral-8x7b", method="qlora")
    assert "UNSLOTH_BLOCK_COMPILE=0" in qwen and "keeps the load-balancing term" in qwen and "25.3 GiB" in qwen


def test_the_first_step_excess_is_what_each_measured_fresh_moe_cell_held() -> None:
    """The count against every fresh MoE cell whose step peaks were recorded: what the first step allocated beyond
    the largest later step. Qwen3.5's MoE counts its Gated DeltaNet layers' kernel-saved tensors too; without them
    it was 3.5-8.3 GiB short (round 21). Granite 4.0-H counts only what leads to its routers' logits; its whole
    layers' count was 4.5-9.1 GiB over at 4,096 and 8,192 tokens (round 22)."""
    gib = 2**30
    checked = {}
    for c in CELLS:
        peaks = c.record.get("step_peaks")
        if c.emulated or not c.record.get("first_in_process") or not peaks or not trial_kept(c.arch, c.run):
            continue
        counted = estimate(c.arch, c.run, params_total=c.params_total).first_step_gib
        if router_path_bytes(shapes(c.arch), UNSLOTH_PEFT, 1.0, c.run.method) is not None:  # less the reserve beside a partial trial
            counted /= 1 + k.UNSLOTH_TRIAL_RESERVED_SHARE
        checked[c.id] = (round(counted, 1), round((peaks[0][0] - max(p[0] for p in peaks[1:])) / gib, 1))
    assert any(cell.startswith("Qwen3.5-35B-A3B/lora/r16/b1x8192") for cell in checked)
    assert any(cell.startswith("Mixtral") for cell in checked) and any(cell.startswith("Qwen3-30B") for cell in checked)
    assert any(cell.startswith("granite-4.0-h-tiny/qlora-on-load/r16/b1x8192") for cell in checked)
    # Under by at most 2.5 GiB, or 15 % of a larger excess: ERNIE 4.5 21B-A3B LoRA at 8,192 (round 56) held 26.6 GiB
    # more in its first step, counted 22.7, while its whole peak reads 2.4 % under. Over, the safe side, by up to 20 %.
    off = {cell: (counted, held) for cell, (counted, held) in checked.items()
           if counted < held - max(2.5, 0.15 * held) or counted > held + max(2.5, 0.2 * held)}
    assert off == {}, checked


def test_the_first_step_excess_grows_with_the_tokens_and_goes_with_the_aux_loss() -> None:
    """What the first step holds beyond later ones is each MoE layer's saved tensors for the step's tokens, less
    the LoRA gradients and optimizer states that step does not hold yet (hidden at 512 tokens, as measured on
    Qwen3-30B-A3B QLoRA); a config whose router_aux_loss_coef is 0, gpt-oss and Gemma 4 hold none of it."""
    from tests.vram.test_estimator import QWEN3_MOE

    def first(arch: Architecture, tokens: int, rank: int = 16) -> float:
        run = RunConfig(method="qlora", seq_len=tokens, lora_rank=rank, stack="unsloth")
        return estimate(arch, run).first_step_gib

    assert first(QWEN3_MOE, 512) == 0.0
    assert 5.5 < first(QWEN3_MOE, 2048) < 8.0  # measured about 7.6 GiB (QLoRA r16, fresh, against later steps)
    assert first(QWEN3_MOE, 8192) > 4.5 * first(QWEN3_MOE, 2048)  # linear in tokens, less a fixed mask
    assert first(QWEN3_MOE, 8192, rank=64) < first(QWEN3_MOE, 8192)  # larger states hide more of it
    for update in ({"router_aux_loss_coef": 0.0}, {"model_type": "gpt_oss"}, {"model_type": "gemma4_text"}):
        assert first(QWEN3_MOE.model_copy(update=update), 8192) == 0.0, update
    fresh = estimate(QWEN3_MOE, RunConfig(method="qlora", seq_len=8192, stack="unsloth")).total_gib
    for arch, off in ((QWEN3_MOE.model_copy(update={"router_aux_loss_coef": 0.0}), {}), (QWEN3_MOE, {"router_aux_loss": False})):
        steady = estimate(arch, RunConfig(method="qlora", seq_len=8192, stack="unsloth", **off))
        assert steady.first_step_gib == 0.0
        assert fresh - steady.total_gib == pytest.approx(first(QWEN3_MOE, 8192), abs=0.01)


def test_a_cell_run_without_the_aux_loss_is_scored_without_the_first_step_excess(tmp_path: Path) -> None:
    """A calibration cell that sets SFTConfig(router_aux_loss_coef=0.0) (--env CALIB_ROUTER_AUX_LOSS=0, recorded in its
    env and trainer_args) is predicted as trl would run it, without the routers' logits, so without the trials' excess."""
    import json

    record = next(c.record for c in CELLS if c.id == "Qwen3-30B-A3B/lora/r32/b4x2048")
    off = {**record, "cell": record["cell"] + "/CALIB_ROUTER_AUX_LOSS=0", "env": ["CALIB_ROUTER_AUX_LOSS=0"],
           "trainer_args": {**record["trainer_args"], "router_aux_loss_coef": 0.0}}
    path = tmp_path / "cells.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps(off) + "\n")
    with_aux, without = BENCH_MODULE.load(str(path))
    first = estimate(with_aux.arch, with_aux.run, params_total=with_aux.params_total).first_step_gib
    assert first > 30 and with_aux.run.router_aux_loss and not without.run.router_aux_loss
    assert BENCH_MODULE.predict(with_aux) - BENCH_MODULE.predict(without) == pytest.approx(first, abs=0.01)


def test_every_linear_attention_model_carries_its_kernels_stack_beside_the_allocator() -> None:
    """Granite 4.0-H's Mamba-2 Triton kernels kept memory beside the allocator: the fit read it as 0.54 GiB of the
    family's own until round 56 showed it is the driver's stack for mamba_ssm's spilling kernels, as fla's is for
    Gated DeltaNet (local_memory). Every Mamba-2 hybrid, measured or not (Bamba), now carries it on the run's GPU, by
    its head size and scan chunk; every Gated DeltaNet family (Qwen3.5, its MoE, Qwen3-Next) fla's; a dense
    transformer none. What NVML saw beside the allocator and the CUDA context in Granite 4.0-H's cells is that stack
    (within 0.3 GiB), and the family keeps no extra of its own."""
    from finetune_advisor.vram.local_memory import deltanet_stack_gib, mamba2_stack_gib
    from finetune_advisor.vram.run import RunConfig
    from finetune_advisor.vram.unsloth_stack import context_extra_gib, linear_attention_stack_gib
    from tests.vram.test_estimator import GRANITE_H_TINY, LLAMA_8B

    from finetune_advisor.catalog.store import load_packaged

    entry = load_packaged().get("qwen3.5-9b")
    qwen35 = entry.architecture if entry else None
    assert qwen35 is not None
    t4 = RunConfig(gpu_capability="7.5", gpu_sms=40)
    stack = lambda config: linear_attention_stack_gib(a := Architecture.model_validate(config), shapes(a), t4)[0]  # noqa: E731
    for model_type in ("qwen3_5_text", "qwen3_5_moe_text", "qwen3_next"):
        assert stack({**qwen35.model_dump(), "model_type": model_type}) == deltanet_stack_gib("7.5", 40)[0]
    granite = Architecture.from_hf_config(GRANITE_H_TINY).model_dump()
    on_t4 = mamba2_stack_gib(64, granite["mamba_chunk_size"], "7.5", 40)[0]
    assert on_t4 > 0 and stack(granite) == on_t4 and stack({**granite, "model_type": "bamba"}) == on_t4
    assert stack({**granite, "mamba_chunk_size": 128}) < on_t4  # Nemotron-H's chunk: only the smallest spill
    assert stack(LLAMA_8B.model_dump()) == 0.0
    assert "granitemoehybrid" not in k.UNSLOTH_CONTEXT_EXTRA_GIB
    assert context_extra_gib(Architecture.model_validate(granite), shapes(Architecture.model_validate(granite))) == 0.0
    seen = [c for c in MEASURED if c.arch.model_type == "granitemoehybrid" and "kernels" in c.id]
    assert len(seen) >= 6
    for c in seen:
        beside = c.measured - c.record["peak_reserved_bytes"] / 2**30 - k.UNSLOTH_CONTEXT_GIB
        assert abs(beside - linear_attention_stack_gib(c.arch, shapes(c.arch), c.run)[0]) < 0.3, c.id


def test_the_mamba2_kernels_stack_counted_is_the_most_the_driver_kept_for_such_a_mixer() -> None:
    """The harness reads the driver's stack limit after each cell's steps (local_memory). Mamba-2 hybrids run with
    mamba_ssm kept 1,152 B a thread (Nemotron-H, head size 64, chunk 128), 3,152-4,160 (Granite 4.0-H, 64, 256) and
    9,472 (Falcon-H1 3B, 128): what the estimate counts for a model is never below what any of its cells kept, and is
    what one of the cells of its kind kept."""
    from finetune_advisor.vram.local_memory import mamba2_stack_bytes

    kept: dict[str, set[int]] = {}
    for c in CELLS:
        stack = (c.record.get("local_memory") or {}).get("stack_bytes_per_thread")
        if shapes(c.arch).mamba_mixers and stack and c.record["kernels"]["mamba_ssm"].startswith("2.3.2"):
            kept.setdefault(c.arch_name, set()).add(stack)
    assert {"falcon-h1-3b", "granite-4.0-h-tiny", "NVIDIA-Nemotron-3-Nano-30B-A3B"} <= kept.keys()
    every = set().union(*kept.values())
    for name, stacks in kept.items():
        arch = next(c.arch for c in CELLS if c.arch_name == name)
        counted = mamba2_stack_bytes(arch.mamba_d_head, arch.mamba_chunk_size)
        assert counted >= max(stacks) and counted in every, name
    assert mamba2_stack_bytes(80, 128) == mamba2_stack_bytes(128, 256)  # Nemotron 3 Nano 4B: 80 pads to 128's tiles
    assert mamba2_stack_bytes(64, None) == mamba2_stack_bytes(64, 256)  # a chunk not known: the larger


def test_a_softcapped_gemma_holds_wider_scores_on_a_gpu_without_bf16() -> None:
    """Gemma-2-9B QLoRA off bf16 (fp16) on the emulated T4 and V100 (1,024 to 8,192 tokens, rounds 56-67b) grew with
    16.5 bytes a score and head, twice its bf16 cells' 8.2, and hardly at all a token. Every cell of it off bf16, up to
    its longest context, is on the safe side within 10 %, and the answer says the fp16 figure and where it comes
    from."""
    fp16 = [c for c in CELLS if c.arch_name == "gemma-2-9b" and not c.run.bf16]
    assert {c.run.seq_len for c in fp16} >= {1024, 2048, 4096, 6144, 8192}
    for c in fp16:
        assert 0.0 <= BENCH_MODULE.error(c) <= 0.10, c.id
    from finetune_advisor.vram.families import unsloth_score_bytes

    assert unsloth_score_bytes("gemma2", bf16=False) == pytest.approx(2 * unsloth_score_bytes("gemma2"), rel=0.05)
    t4 = next(c for c in fp16 if c.run.seq_len == 4096)
    said = estimate(t4.arch, t4.run, params_total=t4.params_total).assumptions
    assert any("16.5 bytes a score and head (in fp16" in a and "emulated T4 and V100" in a for a in said)


def test_gemma_2s_rows_keep_half_their_scores_and_differentiate_the_rest_a_chunk_at_a_time() -> None:
    """One row of Gemma-2-9B QLoRA allocated 7.11-15.24 GiB from 2,048 to 8,192 tokens, a square of 8.2 bytes a score
    and head and little a token; a second row of 8,192 (one row a chunk at 16 heads) added 4.63 GiB, half a square and
    its tokens, and a second of 4,096 (both rows in one chunk) 2.30, a whole square. The count that took 6 bytes of one
    row and the whole layer a token read 9-10 % over at 4,096 and 6,144 (round 70b) and 1.5 % under at 2 x 8,192. Every
    Gemma 2 cell, one and two rows, on and off bf16, now reads from at most 0.5 % under (the refit on 394 cells put
    the 9B's QLoRA at 2,048 tokens 5 MB, 0.06 %, under) to 10 % over; and Gemma 2 2B's 8 heads keep two rows of 8,192
    in one chunk, so both make their scores at once."""
    from finetune_advisor.vram.families import scores_at_peak

    cells = [c for c in CELLS if c.arch_name == "gemma-2-9b"]
    assert {(c.run.batch_size, c.run.seq_len) for c in cells} >= {(1, 2048), (1, 4096), (1, 6144), (1, 8192),
                                                                   (2, 4096), (2, 8192)}
    for c in cells:
        assert -0.005 <= BENCH_MODULE.error(c) <= 0.10, (c.id, BENCH_MODULE.error(c))
    for heads, q_len, squares in ((16, 8192, 1.5), (16, 4096, 2.0), (8, 8192, 2.0)):
        square = 8.2 * heads * q_len**2
        assert sum(scores_at_peak("gemma2", square, 2, heads, q_len)) == pytest.approx(squares * square)
    assert scores_at_peak("gemma3n_text", 1.0, 2, 8, 8192) == (0.0, 1.0)  # packed rows: one sequence, one square


def test_gemma_3s_float32_square_is_reserved_at_its_own_small_share_on_a_t4() -> None:
    """Gemma 3 off bf16 holds a float32 square of the packed micro-batch that the allocator reserves little beyond
    (0-0.12 of it, rounds 44-51): with the shared reserve share on it, its emulated T4 cells read 9-23 % over, and a
    T4 user was told less fits than does. Every such cell above 3 GiB now sits on the safe side within 10 %."""
    from finetune_advisor.vram.families import UNSLOTH_FP32_SQUARE_RESERVED_SHARE

    t4 = [c for c in CELLS if c.arch_name.startswith("gemma-3-") and c.emulated and c.measured > 3.0]
    assert {c.arch_name for c in t4} >= {"gemma-3-270m-it", "gemma-3-4b-it", "gemma-3-12b-it"}
    for c in t4:
        assert 0.0 <= BENCH_MODULE.error(c) <= 0.10, c.id
    assert UNSLOTH_FP32_SQUARE_RESERVED_SHARE < k.UNSLOTH_RESERVED_SHARE


def test_gemma_3n_without_bf16_holds_its_bf16_step_and_gemma_4_its_float32_one() -> None:
    """Unsloth trains both float32-forced families without autocast on a T4. Gemma 3n E4B QLoRA on the emulated T4
    held what its bf16 count gives (counted in float32 it read 18 % over at 4,096 tokens and said a T4 could not
    train it; on the emulated V100 at 8,192 it reads 1 % under, round 67); Gemma 4 E4B held its float32 count (16-bit
    activations read 8 % under at 4,096)."""
    from finetune_advisor.vram.families import unsloth_score_bytes

    for name, lo, hi in (("gemma-3n-E4B-it", -0.02, 0.05), ("gemma-4-E4B-it", -0.05, 0.15)):
        t4 = [c for c in CELLS if c.arch_name == name and c.emulated]
        assert {c.run.seq_len for c in t4} >= {1024, 2048, 4096}, name
        for c in t4:
            assert lo <= BENCH_MODULE.error(c) <= hi, c.id
    assert unsloth_score_bytes("gemma3n_text", fp32_compute=True, bf16=False) == unsloth_score_bytes("gemma3n_text")
    t4 = next(c for c in CELLS if c.arch_name == "gemma-3n-E4B-it" and c.emulated and c.run.seq_len == 4096)
    est = estimate(t4.arch, t4.run, params_total=t4.params_total, takes_images=t4.images)
    assert any("its step holds what its bf16 step holds" in n for n in est.assumptions)


def test_full_fine_tuning_with_an_8bit_optimizer_keeps_the_embeddings_states_in_fp32() -> None:
    """transformers' Trainer gives every nn.Embedding 32-bit Adam states under bitsandbytes' 8-bit optimizers: round
    8's Unsloth full fine-tuning of Llama-3.2-1B held 1.5 GiB more than 8-bit states would (10.21 GiB at 512 tokens
    under NVML). LoRA leaves the embedding frozen; a 32-bit optimizer keeps every state in 32 bits anyway."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    full = estimate_vram(model="llama-3.2-1b", method="full", seq_len=512, gpu="H200")
    assert full.total_gib >= 10.21 * 0.95
    said = [a for a in full.assumptions if "embedding's states in fp32" in a]
    assert said and "1.96 GiB" in said[0]  # 262.7M embedding parameters x 8 bytes
    torch_adam = estimate_vram(model="llama-3.2-1b", method="full", seq_len=512, optimizer="adamw_torch", gpu="H200")
    lora = estimate_vram(model="llama-3.2-1b", method="lora", seq_len=512, gpu="H200")
    assert not any("embedding's states" in a for a in [*torch_adam.assumptions, *lora.assumptions])
    assert any("Full fine-tuning on Unsloth" in a for a in full.assumptions)


def test_full_fine_tuning_stays_close_at_every_length_it_was_measured() -> None:
    """Its peak grows little with the tokens (it comes as the backward pass ends, every gradient held): counted with
    LoRA's layer scale, the long cells came out 8-10 % over (Qwen3-4B at 16,384 tokens, Llama-3.2-1B at 4 x 2,048),
    enough to turn a fitting full fine-tune away, and the short ones 3-4 % under. The two 7B models held out in round
    32 came 4.5-6 % over (the allocator's reserve beyond the gradients, counted as a share of them, is smaller there:
    bench/vram_accuracy/README.md), so over-estimates up to 6 % are allowed; under-estimates stay within 5 %."""
    full = [c for c in MEASURED if c.run.method == "full"]
    assert {c.arch_name for c in full} >= {"Llama-3.2-1B", "Qwen3-4B", "Qwen2.5-7B", "Mistral-7B-v0.3"}
    assert max(c.run.seq_len * c.run.batch_size for c in full) >= 16384
    assert all(-0.05 <= BENCH_MODULE.error(c) <= 0.06 for c in full), [(c.id, BENCH_MODULE.error(c)) for c in full]


def test_the_tail_growth_table_was_written_from_this_data() -> None:
    """constants.UNSLOTH_TAIL_GROWTH is what the fit script derives from the committed cells under the committed
    constants: a new cell at a family's longest length must come with a refit (fit_unsloth.py --write)."""
    assert k.UNSLOTH_TAIL_GROWTH == BENCH_MODULE.tail_growth(CELLS)


def _last_stretch(arch_name: str, method: str) -> tuple[object, int, float, int, float]:
    """A model's two longest measured steps of one method: (its longest cell, tokens and mean peak at both)."""
    from finetune_advisor.vram.terms import text_tokens

    cells = [c for c in MEASURED if c.arch_name == arch_name and c.run.method == method]
    by_tokens: dict[int, list[float]] = {}
    for c in cells:
        by_tokens.setdefault(text_tokens(c.arch, c.run), []).append(c.measured)
    (t0, m0), (t1, m1) = [(t, sum(m) / len(m)) for t, m in sorted(by_tokens.items())[-2:]]
    return max(cells, key=lambda c: text_tokens(c.arch, c.run)), t0, m0, t1, m1


@pytest.mark.parametrize("arch_name, method", [("gemma-4-26B-A4B-it", "qlora"), ("gpt-oss-20b", "lora"),
                                               ("Mixtral-8x7B-v0.1-8L", "lora"), ("Qwen3-30B-A3B", "qlora"),
                                               ("Llama-3.1-8B", "qlora"), ("gemma-4-E2B-it", "qlora")])
def test_beyond_the_longest_measured_step_the_estimate_keeps_up_with_the_measured_growth(arch_name: str,
                                                                                          method: str) -> None:
    """A quarter more tokens than a family's longest measured step, the estimate is not more than 5 % below the
    measured peaks' own straight-line growth over their last stretch. Gemma 4 26B-A4B QLoRA's peak grew 0.57 GiB per
    1,000 tokens from 8,192 to 16,384 tokens where the count grows 0.37: extrapolated at the count's rate alone, 20,480
    tokens came to 29.3 GiB against the 31.6 the measurements point to (-7 %)."""
    cell, t0, m0, t1, m1 = _last_stretch(arch_name, method)
    assert cell.run.batch_size == 1 and t1 > t0
    run = cell.run.model_copy(update={"seq_len": t1 * 5 // 4})
    trend = m1 + (m1 - m0) * (t1 // 4) / (t1 - t0)
    assert estimate(cell.arch, run, params_total=cell.params_total).total_gib >= 0.95 * trend, (arch_name, trend)


def test_a_method_without_a_measured_stretch_takes_its_familys_fastest_tail() -> None:
    """Gemma 4 12B was measured at one LoRA length only, so beyond 65,536 tokens its LoRA takes the rate its QLoRA
    cells showed; Gemma 3n E4B's LoRA residual fell over its last stretch, so LoRA adds nothing there even though its
    QLoRA's rose: a method's own measured stretch wins over the family's fastest."""
    from finetune_advisor.vram.ground import tail_rate

    twelve = next(c.arch for c in MEASURED if c.arch_name == "gemma-4-12B")
    gemma3n = next(c.arch for c in MEASURED if c.arch_name == "gemma-3n-E4B-it")
    rates = k.UNSLOTH_TAIL_GROWTH["gemma4_unified_text"]["dense"]
    assert "lora" not in rates and tail_rate(twelve, "lora") == rates["qlora"] > 0
    assert "lora" in k.UNSLOTH_TAIL_GROWTH["gemma3n_text"]["dense"]
    assert tail_rate(gemma3n, "lora") == 0.0 < tail_rate(gemma3n, "qlora")


def test_a_measured_models_catalog_entry_holds_at_least_what_its_cells_were_built_from() -> None:
    """What a user asks by name is the catalog's architecture, not the config our cells were built from, so for every
    measured model the catalog knows, the two give the same estimate or the catalog's is higher. Gemma 4 12B's entry
    had left out its logit softcapping and global attention heads: by name it came 16 % under the measured config at
    16,384 tokens and 24 % under at 65,536, where that config's estimate is within 0.4 % of the measured peak."""
    from finetune_advisor.adapters.cache import load_catalog
    from finetune_advisor.catalog.resolve import resolve
    from finetune_advisor.errors import UnknownModelError

    catalog, short = load_catalog(), []
    for name, cell in {c.arch_name: c for c in MEASURED}.items():
        try:
            entry = resolve(catalog, cell.record["hf_repo"]).entry
        except UnknownModelError:
            continue
        for method in ("qlora", "lora"):
            for seq_len in (2_048, 16_384):
                if seq_len > (cell.arch.max_position_embeddings or seq_len):  # Gemma 2: 8,192
                    continue
                run = RunConfig(method=method, seq_len=seq_len, stack="unsloth")
                measured_as = estimate(cell.arch, run).total_gib
                named = estimate(entry.architecture, run).total_gib if entry.architecture else measured_as
                if named < 0.99 * measured_as:
                    short.append((name, entry.id, method, seq_len, round(named, 2), round(measured_as, 2)))
    assert not short


def test_where_the_measured_peaks_bend_upward_the_extrapolation_bends_with_them() -> None:
    """Gemma 4 12B QLoRA's five cells (2,048 to 65,536 tokens) lie on a parabola to 0.1 GiB, curving up faster than
    the count; continued at its last stretch's straight rate, the estimate came 13 % under that parabola at 131,072
    tokens, and plan_training called 135,808 tokens comfortable on an H200 where the parabola puts the peak above the
    card. The trend here is fitted in the test from the measured cells themselves. Round 44 measured 98,304 tokens:
    82.31 GiB, 5.1 % below the bend's prediction (86.48) and 2 % above the straight rate's; refitted with it, the bend
    is gentler, and the answer must still keep within 3 % of the measured cells' own trend beyond them."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    cells = sorted((c for c in MEASURED if c.arch_name == "gemma-4-12B" and c.run.method == "qlora"),
                   key=lambda c: c.run.seq_len)
    points = {c.run.seq_len: c.measured for c in cells}  # a repeat at one length: the later run
    assert len(points) >= 6 and max(points) == 98_304
    trend = BENCH_MODULE._quadratic(sorted(points.items()))  # GiB: (a linear, a square) coefficient in the tokens
    base = points[98_304]
    for tokens in (131_072, 163_840):
        expected = base + trend[0] * (tokens - 98_304) + trend[1] * (tokens**2 - 98_304**2)
        answer = estimate_vram(model="gemma-4-12b", method="qlora", seq_len=tokens, gpu="H200")
        assert answer.total_gib >= 0.97 * expected, (tokens, answer.total_gib, expected)
        bend = k.UNSLOTH_TAIL_BEND["gemma4_unified_text"]["dense"]["qlora"][1]
        assert any(f"bends upward by {bend:.2f} bytes a token squared" in a for a in answer.assumptions)



def _cell(cell_id: str):
    return next(c for c in CELLS if c.id == cell_id)


def test_a_qlora_moe_steps_reserve_holds_one_dequantised_expert_block(monkeypatch) -> None:
    """QLoRA dequantises a MoE layer's fused gate_up whole (transformers 5's 3-D parameter): DeepSeek-V3 cut to 4 layers
    (one MoE layer, 256 experts, gate_up 14.0 GiB in 16 bits) allocated 15.75 GiB beyond its weights at 2,048 tokens,
    and at 8,192 its second step reserved 14.66 GiB beyond what it allocated (round 59). The fitted reserve alone,
    a share of the step's buffers (4-6 GiB there), put that step 12 % under; the block in the reserve holds it. Where
    the step, not the load, sets the peak (16,384 tokens), the block raises the estimate by its excess over that share
    (2.4 GiB since round 65's refit, whose routed intermediate bytes raised the share's base)."""
    from finetune_advisor.vram import unsloth_stack

    at_8192 = _cell("DeepSeek-V3-4L/qlora-on-load/r16/b1x8192")
    block = unsloth_stack.dequantised_expert_block(shapes(at_8192.arch))
    assert block == 256 * (2 * 2048) * 7168 * 2
    reserved = max(p[1] - p[0] for p in at_8192.record["step_peaks"])
    assert reserved / 1024**3 == pytest.approx(14.66, abs=0.01)
    said = estimate(at_8192.arch, at_8192.run, params_total=at_8192.params_total).assumptions
    assert any("dequantises each MoE layer's fused gate_up experts whole (14.00 GiB" in a for a in said)
    lora = _cell("DeepSeek-V3-4L/lora/r16/b1x2048")
    assert not any("dequantises" in a for a in estimate(lora.arch, lora.run, params_total=lora.params_total).assumptions)
    longer = at_8192.run.model_copy(update={"seq_len": 16384})
    with_block = estimate(at_8192.arch, longer, params_total=at_8192.params_total).total_gib
    monkeypatch.setattr(unsloth_stack, "dequantised_expert_block", lambda s: 0.0)
    without = estimate(at_8192.arch, longer, params_total=at_8192.params_total).total_gib
    assert 1.0 < with_block - without < block / 1024**3


def test_16_bit_lora_holds_less_of_a_moe_layers_experts_than_qlora_dequantises() -> None:
    """In 16 bits there is nothing to dequantise: DeepSeek-V3-4L LoRA allocated 2.16 GiB beyond its weights at 2,048
    tokens, where its QLoRA twin allocated 15.75 (round 59), and the MoE LoRA cells measured before read 1-3 % over
    with QLoRA's share of a layer. The two shares are fitted apart, and the LoRA one is the smaller."""
    def beyond_weights(cell_id: str) -> float:
        c = _cell(cell_id)
        return (max(p[0] for p in c.record["step_peaks"]) - c.record["weights_bytes"]) / 1024**3

    assert beyond_weights("DeepSeek-V3-4L/lora/r16/b1x2048") == pytest.approx(2.16, abs=0.01)
    assert beyond_weights("DeepSeek-V3-4L/qlora-on-load/r16/b1x2048") == pytest.approx(15.75, abs=0.01)
    assert k.UNSLOTH_MOE_LAYER_SHARE["lora"] < k.UNSLOTH_MOE_LAYER_SHARE["qlora"]


def test_a_moe_whose_load_fuses_a_huge_layer_of_experts_peaks_while_it_loads() -> None:
    """transformers 5 fuses a MoE checkpoint's per-expert tensors layer by layer on load: DeepSeek-V3 cut to 4 layers
    (21 GiB of experts in its MoE layer) peaked at 49.02 GiB loading quantised (31.60 in its first step) and 49.91 in
    16 bits (36.10): a user's process needs the load's peak, which an answer gives and says. A MoE with small layers
    (Qwen3-30B-A3B, 1.1 GiB of experts a layer) loads far below its step, and its answer says nothing of it."""
    for cell_id, load in (("DeepSeek-V3-4L/qlora-on-load/r16/b1x2048", 49.02), ("DeepSeek-V3-4L/lora/r16/b1x2048", 49.91)):
        c = _cell(cell_id)
        assert c.record["load_nvml_process_peak_bytes"] / 1024**3 == pytest.approx(load, abs=0.01)
        assert c.measured == pytest.approx(load, abs=0.01)  # the target is the process's peak, load included
        e = estimate(c.arch, c.run, params_total=c.params_total)
        assert load * 0.95 <= e.total_gib <= load * 1.05, cell_id
        assert any(a.startswith("Loading sets the peak here") for a in e.assumptions)
    small = _cell("Qwen3-30B-A3B/qlora-on-load/r16/b1x2048/fresh")
    assert small.record["load_nvml_process_peak_bytes"] < small.record["nvml_process_peak_bytes"]
    assert not any(a.startswith("Loading sets") for a in estimate(small.arch, small.run).assumptions)


def test_llama_4_scout_is_within_the_target_with_its_whole_logits_counted() -> None:
    """Llama 4 computes its loss over the whole logits (test_loss_route): counted, with the allocator's reserve on them
    by method, the Scout cells (cut to 8 layers) come within the target; without the count the 8,192-token cell was
    predicted 23 % under (round 61), and with the reserve sized on 8,192 tokens alone the 16,384 one 6 % under (62)."""
    for cell_id in ("Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x2048",
                    "Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x4096/fresh",
                    "Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x8192/fresh",
                    "Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x16384/fresh",
                    "Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b2x4096/fresh",
                    "Llama-4-Scout-17B-16E-Instruct-8L/lora/r16/b1x2048",
                    "Llama-4-Scout-17B-16E-Instruct-8L/lora/r16/b1x8192/fresh"):
        c = _cell(cell_id)
        e = estimate(c.arch, c.run, params_total=c.params_total, takes_images=c.images)
        assert -0.05 <= e.total_gib / c.measured - 1 <= 0.10, cell_id
        assert any("runs over the whole logits" in a for a in e.assumptions)

def test_llama_4_keeps_no_router_trial_and_quantises_its_vision_tower() -> None:
    """trl turns the aux loss on for Llama 4's config, but its modeling code computes none, so nothing keeps the first
    step's trial forwards: the fresh first steps of round 61 allocated at most 0.5 GiB more than later ones. Its QLoRA
    load packs the vision tower's linears in 4 bits too: the packed bytes are half the text layers' linears and the
    tower's."""
    fresh = _cell("Llama-4-Scout-17B-16E-Instruct-8L/qlora-on-load/r16/b1x4096/fresh")
    first, later = fresh.record["step_peaks"][0][0], fresh.record["step_peaks"][1][0]
    assert (first - later) / 1024**3 < 0.5
    assert not trial_kept(fresh.arch, fresh.run)
    s = shapes(fresh.arch)
    text = sum(lin.params for lin in s.linears) * s.layers  # 8 layers alike: every one MoE
    assert text == 17_616_076_800  # the routers stay 16-bit (unsloth_zoo SKIP_QUANTIZATION_MODULES)
    from finetune_advisor.vram.families import quantised_vision_linears
    assert fresh.record["parameter_bytes"]["uint8"] * 2 == text + quantised_vision_linears("llama4")


def test_a_moe_whose_checkpoint_stores_its_experts_fused_merges_nothing_while_it_loads() -> None:
    """transformers 5.17 merges per-expert tensors on load only for the families its conversion mapping lists;
    gpt-oss, Llama 4, Gemma 4, Granite MoE and Qwen3.5-MoE store them fused. Their measured loads held less than one
    layer's experts in 16 bits beyond the weights (none in 16-bit LoRA), where a merging family holds one to two, so
    their answers do not say the load sets the peak: gpt-oss-20b on a T4 with Unsloth's notebook's attention-only
    LoRA was said to peak at its load, 16.0 GiB, where its step is 15.9. (granite-4.0-h-tiny's 16-bit load held 0.06, 0.96
    and 2.44 GB beyond its weights and adapters at ranks 16, 64 and 128: made with the adapters, whatever it is, and
    far below each step's peak; rounds 83 and 84. Ranks above 32 are left out here.)"""
    from finetune_advisor.vram.families import experts_stored_fused
    from finetune_advisor.tools.estimate_vram import estimate_vram

    for c in MEASURED:
        if not (c.record.get("load_nvml_process_peak_bytes") and shapes(c.arch).routed_layers):
            continue
        s = shapes(c.arch)
        layers = (c.record["load_nvml_process_peak_bytes"] - c.record["weights_bytes"]
                  - c.record["cuda_context_bytes"]) / (s.expert_bytes_16bit / s.routed_layers)
        if experts_stored_fused(c.arch.model_type) and c.run.lora_rank <= 32:
            assert layers < (1.0 if c.run.method == "qlora" else 0.35), c.id
        elif c.run.method == "lora":
            assert layers > 0.5, c.id
    said = estimate_vram(model="gpt-oss-20b", gpu="T4", seq_len=1024, lora_rank=8,
                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]).assumptions
    assert not any(a.startswith("Loading sets the peak") for a in said)
    deepseek = _cell("DeepSeek-V3-4L/lora/r16/b1x2048")
    e = estimate(deepseek.arch, deepseek.run, params_total=deepseek.params_total)
    assert any(a.startswith("Loading sets the peak") for a in e.assumptions)  # a merging family still says it


def test_gemma_4_12b_is_read_with_its_traced_layer_scale_and_its_masks_reserve() -> None:
    """Gemma 4 12B's traced layer holds 1.10 times its count beside the compiled MLP (rounds 40c, 52b), not the
    dense scale fitted over every family, which read it 10-16 % over from 8,192 to 32,768 tokens; and its allocator
    reserves about 0.6 of its two masks beyond the shared share at 65,536 and 98,304 tokens. With both, every cell of
    the family comes within -5 / +10 % (it was read up to 16 % over)."""
    from finetune_advisor.vram import families

    cells = [c for c in MEASURED if c.id.startswith("gemma-4-12B/")]
    assert len(cells) >= 7
    for c in cells:
        assert -0.05 <= BENCH_MODULE.error(c) <= 0.10, (c.id, BENCH_MODULE.error(c))
    assert max(c.run.seq_len for c in cells) == 98304
    assert families.layer_scale_on_unsloth("gemma4_unified_text", "dense", 1.64) == pytest.approx(158 / 144, abs=0.01)
    assert families.layer_scale_on_unsloth("gemma4_text", "dense", 1.64) == 1.64  # E2B, E4B, 31B keep the fitted one


def test_glm_4_7_flash_is_read_on_its_own_measured_moe_layer_scale() -> None:
    """GLM-4.7-Flash on the shared MoE scale read over in step with its tokens (+10.6 % at 16,384, QLoRA): its
    allocated peak grew 157-235 KB a token where the count grew 321. On its own measured scale every cell of it, from
    2,048 to 32,768 tokens, in both 4-bit forms and 16-bit LoRA, sits within -2 / +5 %: at 8,192 tokens its QLoRA no
    longer reads over a 24 GiB card that held it (23.03 GiB measured). Other MoE families keep the fitted scale."""
    from finetune_advisor.vram import families

    cells = [c for c in MEASURED if c.id.startswith("GLM-4.7-Flash/")]
    assert {c.run.seq_len for c in cells} >= {2048, 8192, 16384, 32768} and len(cells) >= 8
    for c in cells:
        assert -0.02 <= BENCH_MODULE.error(c) <= 0.05, (c.id, BENCH_MODULE.error(c))
    assert families.layer_scale_on_unsloth("glm4_moe_lite", "moe", 2.7) < 2.7
    assert families.layer_scale_on_unsloth("deepseek_v3", "moe", 2.7) == 2.7
    said = estimate(cells[0].arch, cells[0].run, params_total=cells[0].params_total).assumptions
    assert any("its own scale (sized on its own measured runs, not traced)" in a for a in said)
    from finetune_advisor.tools.estimate_vram import estimate_vram

    held = next(c.measured for c in cells if c.id == "GLM-4.7-Flash/qlora-on-load/r16/b1x8192")
    assert held < 24 - 0.6  # the run fit a 24 GiB card beside the driver's share
    assert estimate_vram(model="glm-4.7-flash", method="qlora", seq_len=8192, gpu_memory_gib=24).fits


def test_a_pre_quantised_moe_upload_is_counted_as_unsloth_stacks_it() -> None:
    """A `-bnb-4bit` upload of a merging MoE family stores one NF4 tensor an expert, which Unsloth stacks on load with
    a float32 scale per 64 weights (round 62b): Qwen3-30B-A3B held 1.22 GiB more than quantised on load, and its load
    held 0.69-0.72 of the stacked experts beyond the weights, GLM-4.7-Flash and ERNIE 4.5 0.34 (round 64), each
    counted at its family's own share. Both are counted for a pre-quantised run only; with the router's aux loss off
    the step comes below that load, which the answer then gives and says (measured in round 63: the load was the
    process's peak, 28.33 GiB)."""
    from finetune_advisor.vram import families

    pre = _cell("Qwen3-30B-A3B/qlora-prequantized/r16/b1x2048/fresh")
    on_load = _cell("Qwen3-30B-A3B/qlora-on-load/r16/b1x2048/fresh")
    assert pre.run.storage == "bnb-4bit" and on_load.run.storage == "16bit"
    more = pre.record["weights_bytes"] - on_load.record["weights_bytes"]
    counted = estimate(pre.arch, pre.run).breakdown.weights - estimate(on_load.arch, on_load.run).breakdown.weights
    assert more / 1024**3 == pytest.approx(1.22, abs=0.01) and counted == pytest.approx(more / 1024**3, rel=0.06)
    for cell_id in ("Qwen3-30B-A3B/qlora-prequantized/r16/b1x2048/fresh",
                    "Qwen3-30B-A3B/qlora-prequantized/r16/b1x2048/CALIB_ROUTER_AUX_LOSS=0/fresh",
                    "Mixtral-8x7B-v0.1-8L/qlora-prequantized/r16/b1x2048/fresh",
                    "GLM-4.7-Flash/qlora-prequantized/r16/b1x2048/fresh",
                    "ernie-4.5-21b-a3b/qlora-prequantized/r16/b1x2048/fresh"):
        c = _cell(cell_id)
        assert -0.05 <= BENCH_MODULE.error(c) <= 0.05, (cell_id, BENCH_MODULE.error(c))
    quiet_cell = _cell("Qwen3-30B-A3B/qlora-prequantized/r16/b1x2048/CALIB_ROUTER_AUX_LOSS=0/fresh")
    assert quiet_cell.measured == pytest.approx(quiet_cell.record["load_nvml_process_peak_bytes"] / 1024**3)
    quiet = estimate(pre.arch, pre.run.model_copy(update={"router_aux_loss": False}))
    assert quiet.total_gib >= quiet_cell.measured and any(a.startswith("Loading sets the peak here")
                                                           for a in quiet.assumptions)
    assert families.prequantised_load_share("qwen3_moe") == families.PREQUANTISED_EXPERT_LOAD_SHARE  # the largest
    assert families.prequantised_load_share("deepseek_v3") == families.PREQUANTISED_EXPERT_LOAD_SHARE  # unmeasured
    gpt_oss = _cell("gpt-oss-20b/qlora-prequantized/r16/b1x2048")  # fused experts in its checkpoint: no stacking
    assert estimate(gpt_oss.arch, gpt_oss.run).breakdown.weights == pytest.approx(
        estimate(gpt_oss.arch, gpt_oss.run.model_copy(update={"storage": "16bit"})).breakdown.weights)


def test_where_a_pre_quantised_load_sets_the_peak_the_answer_gives_the_peak_with_threaded_loading_off() -> None:
    """Round 69 loaded Qwen3-30B-A3B's pre-quantised upload twice, aux loss off so that the load sets the peak: as a
    user does (28.37 GiB, 10.75 of it in the allocator's small pool) and with HF_DEACTIVATE_ASYNC_LOAD=1 (the load
    held the weights alone, 20.11, and the step set the peak, 25.45). The answer says so with those figures, and the
    peak it gives for that setting is not below what was measured, nor more than 5 % above it."""
    GIB = 1024**3
    user = _cell("Qwen3-30B-A3B/qlora-prequantized/r16/b1x2048/CALIB_ROUTER_AUX_LOSS=0/fresh-pools")
    off = next(r for r in _records() if r["cell"].startswith("Qwen3-30B-A3B/")
               and r["cell"].endswith("/HF_DEACTIVATE_ASYNC_LOAD=1/fresh") and r["status"] == "ok")
    assert off["load_pool_peaks"]["small"] < user.record["load_pool_peaks"]["small"] / 10  # the threads' lead is gone
    note = next(a for a in estimate(user.arch, user.run).assumptions if "HF_DEACTIVATE_ASYNC_LOAD=1" in a)
    said = {f"{x:.1f}" for x in (off["load_nvml_process_peak_bytes"] / GIB, user.measured,
                                 off["nvml_process_peak_bytes"] / GIB)}
    assert said <= set(re.findall(r"\d+\.\d", note)), (said, note)
    given = float(re.search(r"the peak would be about ([0-9.]+) GiB\.", note).group(1))
    assert off["nvml_process_peak_bytes"] / GIB <= given <= 1.05 * off["nvml_process_peak_bytes"] / GIB


def test_a_moe_whose_config_sets_the_aux_loss_coefficient_to_zero_keeps_no_first_step_trial() -> None:
    """trl 1.15 takes the config's router_aux_loss_coef when SFTConfig sets none and turns the aux loss on only where it
    is non-zero (sft_trainer.py); with it off the first step keeps no trial forwards (measured on Qwen3-30B-A3B: 63.0
    GiB fresh at 8,192 tokens, 24.9 with the aux loss off). Qwen3-Coder-30B-A3B-Instruct's config sets 0.0: the
    catalog carries it, so its QLoRA figure is the aux-off one, 7 GiB under Qwen3-30B-A3B's (0.001) at 2,048 tokens,
    and the answer says why."""
    from finetune_advisor.adapters.cache import load_catalog

    entries = {e.id: e for e in load_catalog().models}
    coder, base = entries["qwen3-coder-30b-a3b"].architecture, entries["qwen3-30b-a3b"].architecture
    assert coder.router_aux_loss_coef == 0.0
    run = RunConfig(method="qlora", seq_len=2048, stack="unsloth")
    quiet, trials = estimate(coder, run), estimate(base, run)
    assert quiet.first_step_gib == 0.0 and trials.first_step_gib > 5.0
    assert quiet.total_gib == pytest.approx(estimate(base, run.model_copy(update={"router_aux_loss": False})).total_gib,
                                            rel=0.01)
    assert any("sets router_aux_loss_coef to 0" in a for a in quiet.assumptions)


def test_where_unsloth_put_the_embedding_on_a_capped_card_is_what_the_rule_says() -> None:
    """Every measured run on an emulated card with an untied embedding (22 so far, rounds 6-79), given to the rule
    as a real card that leaves Unsloth the same memory after its CUDA context: the rule says where Unsloth put the
    embedding in all but one. The miss (OLMo 3 7B at 24,576 tokens under 12 GiB, moved with 0.24 GiB to spare by
    our count of the weights and the reserve) keeps the table on the GPU in the estimate, which counts more than
    the run held: the safe side."""
    fit = BENCH_MODULE
    cells = [c for c in CELLS + fit.load(status="oom") if c.emulated and not c.arch.tie_word_embeddings
             and c.run.method != "full" and fit.unsloth_usable_gib(c) is not None]
    misses = []
    for c in cells:
        moved = bool(c.record.get("host_embedding_bytes"))
        run = c.run.model_copy(update={"offload_embedding": False})
        core = estimate(c.arch, run, params_total=c.params_total, takes_images=c.images)
        if unsloth_offloads(c.arch, run, core, fit.unsloth_usable_gib(c)) != moved:
            misses.append((c.id, moved))
    assert len(cells) >= 22
    assert len(misses) <= 1 and all(moved for _, moved in misses), misses
