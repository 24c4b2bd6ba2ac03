"""Round 91's calibration cell for what Unsloth trains when QLoRA's call loads a per-tensor FP8 checkpoint
(bench/vram_calibration: unsloth_sft.py prepare --fp8-per-tensor, a plan's `--quant fp8`, predict_unsloth.py). A job
routed to the 16-bit save, or predicted as QLoRA, would measure or score another run than the one the answer counts."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import types
from pathlib import Path

import pytest

from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.shapes import shapes

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "vram_calibration"
sys.path.insert(0, str(BENCH))
import predict_unsloth  # noqa: E402
import unsloth_batch  # noqa: E402
import unsloth_sft  # noqa: E402

sys.path.pop(0)

NAME = "Ministral-3-8B-Instruct-2512-fp8"
FP8_JOB = ["qlora", "1x2048,1x8192", "--quant", "fp8", "--tag", "fresh"]


def _lane_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: list[list[str]]) -> list[list[str]]:
    """The commands a lane runs for JOBS of NAME (none of them run)."""
    calls: list[list[str]] = []
    lane = unsloth_batch.Lane(0, [], str(tmp_path), deadline=10**12, lanes=1)
    monkeypatch.setattr(lane, "sh", lambda argv, timeout: calls.append(argv) or 0)
    monkeypatch.setattr(unsloth_sft, "SPILL", str(tmp_path / "spill"))
    lane.model(NAME, jobs, str(tmp_path / "m"))
    return calls


def test_an_fp8_job_is_prepared_with_the_fp8_save_and_runs_on_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    prepare, run = _lane_calls(tmp_path, monkeypatch, [FP8_JOB])
    path = str(tmp_path / "m" / NAME)
    assert prepare[2:] == ["prepare", NAME, path, "--fp8-per-tensor"]
    assert run[2:6] == ["run", NAME, path + "-fp8", "qlora"]
    assert run[run.index("--quant") + 1] == "fp8"  # the cell's quant_form, and its id's qlora-fp8


def test_each_quant_form_loads_its_own_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [["qlora", "1x2048"], ["qlora", "1x2048", "--quant", "prequantized"], FP8_JOB, ["lora", "1x2048"]]
    prepare, *runs = _lane_calls(tmp_path, monkeypatch, jobs)
    path = str(tmp_path / "m" / NAME)
    assert prepare[5:] == ["--prequantize", "--fp8-per-tensor"]
    assert [r[4] for r in runs] == [path, path + "-bnb-4bit", path + "-fp8", path]


def test_an_fp8_cell_is_named_qlora_fp8() -> None:
    assert unsloth_batch.job_cells(NAME, FP8_JOB) == [f"{NAME}/qlora-fp8/r16/b1x2048/fresh",
                                                     f"{NAME}/qlora-fp8/r16/b1x8192/fresh"]


def test_the_fp8_build_keeps_the_configs_own_list_in_16_bits() -> None:
    config = unsloth_sft.load_config(NAME)["config"]
    assert unsloth_sft.fp8_kept(config) == ["model.vision_tower", "model.multi_modal_projector", "lm_head"]
    assert unsloth_sft.fp8_kept({"quantization_config": {"modules_to_not_convert": ["lm_head"]}}) == ["lm_head"]
    assert unsloth_sft.fp8_kept({}) == unsloth_sft.FP8_KEPT_16BIT


def test_the_fp8_config_describes_the_same_model_as_the_16_bit_one() -> None:
    fp8 = unsloth_sft.load_config(NAME)["config"]
    sixteen = unsloth_sft.load_config("Ministral-3-8B-Instruct-2512")["config"]
    assert fp8["quantization_config"]["weight_block_size"] is None
    assert Architecture.from_hf_config(fp8) == Architecture.from_hf_config(sixteen)
    assert {k: v for k, v in fp8.items() if k != "quantization_config"} == sixteen


def _save(path: Path, quant: dict, tensors: dict[str, tuple[str, list[int]]]) -> Path:
    """A save's config.json and one safetensors file whose header lists TENSORS (their bytes left zero)."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"quantization_config": quant}))
    size = {"F8_E4M3": 1, "F32": 4, "BF16": 2}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = size[dtype] * (shape[0] * shape[1] if shape else 1)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


PER_TENSOR = {"quant_method": "fp8", "weight_block_size": None}
LINEAR = {"model.q_proj.weight": ("F8_E4M3", [8, 4]), "model.q_proj.weight_scale_inv": ("F32", [1, 1]),
          "lm_head.weight": ("BF16", [16, 4])}


def test_a_per_tensor_fp8_save_passes_the_prepare_check(tmp_path: Path) -> None:
    assert unsloth_sft.fp8_problems(str(_save(tmp_path / "ok", PER_TENSOR, LINEAR))) == []
    scalar = {**LINEAR, "model.q_proj.weight_scale_inv": ("F32", [])}  # the layer's own per-tensor shape
    assert unsloth_sft.fp8_problems(str(_save(tmp_path / "scalar", PER_TENSOR, scalar))) == []


@pytest.mark.parametrize(("quant", "tensors", "said"), [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, LINEAR, "weight_block_size [128, 128]"),
    ({"quant_method": "fp8"}, LINEAR, "weight_block_size 'missing'"),
    (PER_TENSOR, {"model.q_proj.weight": ("BF16", [8, 4])}, "no float8_e4m3fn weight"),
    (PER_TENSOR, {**LINEAR, "model.q_proj.weight_scale_inv": ("F32", [2, 1])}, "1 of them not one float32 value"),
    (PER_TENSOR, {"model.q_proj.weight": ("F8_E4M3", [8, 4]), "model.q_proj.scale": ("F32", [])}, "0 scales"),
])
def test_a_save_that_is_not_per_tensor_fp8_stops_the_prepare(tmp_path: Path, quant: dict, tensors: dict,
                                                             said: str) -> None:
    assert any(said in p for p in unsloth_sft.fp8_problems(str(_save(tmp_path / "save", quant, tensors))))


def test_fp8_weights_are_counted_by_their_dtype_a_byte_each() -> None:
    def tensor(dtype: str, n: int, size: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(dtype=f"torch.{dtype}", numel=lambda: n, element_size=lambda: size)

    params = [tensor("float8_e4m3fn", 1000, 1), tensor("float32", 1, 4), tensor("bfloat16", 10, 2)]
    model = types.SimpleNamespace(parameters=lambda: params, buffers=lambda: [])
    assert unsloth_sft.parameter_bytes(model) == {"float8_e4m3fn": 1000, "float32": 4, "bfloat16": 20}


def test_an_fp8_cell_is_predicted_below_16_bit_lora_by_what_its_fp8_weights_save(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan, out = tmp_path / "plan.txt", tmp_path / "out.jsonl"
    plan.write_text(f"{NAME} qlora 1x2048,1x8192 --quant fp8 --tag fresh\n"
                    f"{NAME} lora 1x2048,1x8192 --tag fresh\n{NAME} qlora 1x2048\n")
    monkeypatch.setattr(sys, "argv", ["predict_unsloth.py", str(plan), str(out), "H100"])
    predict_unsloth.main()
    fp8, lora, qlora = (rows := [json.loads(line) for line in out.read_text().splitlines()])[0:2], rows[2:4], rows[4]
    s = shapes(Architecture.from_hf_config(unsloth_sft.load_config(NAME)["config"]))
    saved = (s.linear_params - max(lin.fan_in * lin.fan_out for lin in s.linears) * 2) / 2**30
    for cell, sixteen in zip(fp8, lora, strict=True):
        assert cell["lora_16bit_gib"] == sixteen["predicted_gib"]
        assert cell["predicted_gib"] == pytest.approx(sixteen["predicted_gib"] - saved, abs=0.002)
    assert qlora["predicted_gib"] < fp8[0]["predicted_gib"] and "lora_16bit_gib" not in qlora


def _script(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_measured_fp8_cell_stays_out_of_the_memory_and_step_time_fits(tmp_path: Path) -> None:
    """Its run is LoRA over FP8 weights: fitting QLoRA's constants or step times to it would move every QLoRA answer
    towards another run's figure. It is scored against its own count (score_holdout_round.py)."""
    data = (BENCH / "data" / "unsloth_sft_1gpu.jsonl").read_text().splitlines()
    qlora = next(json.loads(line) for line in data if '"quant_form": "on-load"' in line and '"status": "ok"' in line
                 and '"emulation": null' in line and '"env": []' in line)
    fp8 = {**qlora, "cell": qlora["cell"].replace("qlora-on-load", "qlora-fp8"), "quant_form": "fp8"}
    path = tmp_path / "cells.jsonl"
    path.write_text(json.dumps(qlora) + "\n" + json.dumps(fp8) + "\n")
    sys.path.insert(0, str(ROOT / "bench" / "vram_accuracy"))
    try:
        fit_unsloth = _script(ROOT / "bench" / "vram_accuracy" / "fit_unsloth.py", "fit_unsloth_fp8_test")
    finally:
        sys.path.remove(str(ROOT / "bench" / "vram_accuracy"))
    assert [c.id for c in fit_unsloth.load(str(path))] == [qlora["cell"]]
    throughput = _script(ROOT / "bench" / "throughput" / "fit.py", "throughput_fit_fp8_test")
    assert "FP8" in (throughput.outside_fit(fp8) or "")
    assert throughput.outside_fit(qlora) is None or "FP8" not in throughput.outside_fit(qlora)
