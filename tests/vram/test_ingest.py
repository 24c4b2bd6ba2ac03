"""Filing a GPU call's Unsloth cells (bench/vram_calibration/ingest_unsloth.py): a cell measured again replaces its
older record, the round's held-out file gets only cells whose predictions were committed first, and each lane's
log is kept under the round and call it came from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "vram_calibration"))
import ingest_unsloth  # noqa: E402

sys.path.pop(0)


def _call_output(root: Path) -> Path:
    """A device call's $OUT as it comes back: records and lane logs one folder down."""
    out = root / "files" / "out"
    out.mkdir(parents=True)
    (out / "unsloth-0.jsonl").write_text(json.dumps({"cell": "a/qlora", "status": "ok", "nvml_process_peak_bytes": 2**31}) + "\n")
    (out / "unsloth-1.jsonl").write_text(json.dumps({"cell": "b/lora", "status": "oom"}) + "\n")
    (out / "log-0.txt").write_text("lane 0\n")
    (out / "log-1.txt").write_text("lane 1\n")
    return root / "files"


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ({"cell": "a/qlora", "status": "ok", "old": True},
                                                       {"cell": "c/lora", "status": "ok"})) + "\n")
    for name in ("logs", "holdout"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(ingest_unsloth, "DATA", str(data))
    monkeypatch.setattr(ingest_unsloth, "LOGS", str(tmp_path / "logs"))
    monkeypatch.setattr(ingest_unsloth, "HOLDOUT", str(tmp_path / "holdout"))
    return tmp_path


def test_a_call_is_filed_under_its_round_and_replaces_cells_measured_again(repo: Path, capsys) -> None:
    ingest_unsloth.main([str(_call_output(repo)), "52", "1"])
    kept = [json.loads(line) for line in (repo / "data.jsonl").read_text().splitlines()]
    assert [r["cell"] for r in kept] == ["c/lora", "a/qlora", "b/lora"] and "old" not in kept[1]
    held_out = (repo / "holdout" / "measured-unsloth-round52.jsonl").read_text().splitlines()
    assert [json.loads(line)["cell"] for line in held_out] == ["a/qlora", "b/lora"]
    assert sorted(p.name for p in (repo / "logs").iterdir()) == ["round52-call1-lane0.txt", "round52-call1-lane1.txt"]
    assert "2 records; 1 replaced" in capsys.readouterr().out


def test_cells_run_without_committed_predictions_stay_out_of_the_held_out_file(repo: Path) -> None:
    ingest_unsloth.main([str(_call_output(repo)), "51x", "1", "--not-held-out"])
    assert not list((repo / "holdout").iterdir())
    assert len((repo / "data.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("round_", ["../52", "52 b", ""])
def test_a_round_that_is_not_a_round_is_refused(repo: Path, round_: str) -> None:
    with pytest.raises(SystemExit):
        ingest_unsloth.main([str(_call_output(repo)), round_, "1"])
    assert not list((repo / "logs").iterdir())


def test_a_call_of_held_out_and_diagnostic_cells_is_filed_in_two_runs(repo: Path) -> None:
    files = str(_call_output(repo))
    ingest_unsloth.main([files, "75", "1", "--cells", "^a/"])
    ingest_unsloth.main([files, "75", "1", "--cells", "^b/", "--not-held-out"])
    held_out = (repo / "holdout" / "measured-unsloth-round75.jsonl").read_text().splitlines()
    assert [json.loads(line)["cell"] for line in held_out] == ["a/qlora"]
    kept = [json.loads(line)["cell"] for line in (repo / "data.jsonl").read_text().splitlines()]
    assert kept == ["c/lora", "a/qlora", "b/lora"]


@pytest.mark.parametrize("cells", ["^z/", "a/(q"])
def test_a_cells_pattern_that_selects_nothing_or_is_no_pattern_files_nothing(repo: Path, cells: str) -> None:
    before = (repo / "data.jsonl").read_text()
    with pytest.raises(SystemExit):
        ingest_unsloth.main([str(_call_output(repo)), "75", "1", "--cells", cells])
    assert (repo / "data.jsonl").read_text() == before and not list((repo / "holdout").iterdir())
