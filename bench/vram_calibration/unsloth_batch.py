"""Run a plan of Unsloth-stack cells in a few parallel lanes within a time budget (resumable).

    python unsloth_batch.py PLAN OUTDIR [--lanes 2] [--budget-s 540] [--done FILE.jsonl ...]

PLAN has one job per line: `NAME  METHOD  SHAPES  [unsloth_sft.py run flags]`, e.g.
`Qwen3-8B qlora 1x512,1x2048,2x2048,1x8192 --quant prequantized`; `#` starts a comment. Jobs of
one NAME run in one lane, one after the other, after the model is prepared once (saved to
/dev/shm, removed afterwards); lanes take the next NAME when free. Two flags are the batch's, not
the run's: `--big` (prepare in /dev/shm, one big model at a time) and `--build-4bit` (prepare only
the `-bnb-4bit` save, built without a 16-bit copy: `unsloth_sft.build_4bit`; its jobs use
`--quant prequantized`; a NAME's other jobs are prepared apart, from its 16-bit save). A job with `--quant fp8` runs on
an FP8 save with one scale per tensor (`unsloth_sft.save_fp8`), prepared beside the 16-bit one. Jobs whose cells all
appear in a --done file (earlier results) are skipped, so a plan can be re-run across GPU sessions.
Each lane appends to OUTDIR/unsloth-<lane>.jsonl and OUTDIR/log-<lane>.txt; the per-process NVML
reading keeps cells measured beside each other apart (`concurrent_jobs` records the lane count,
`gpu_shared_with` the other processes seen on the GPU during the cell's steps).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from unsloth_sft import OVER_FP8  # noqa: E402
MODELS = "/dev/shm/m"  # models over ~15B (`--big`): RAM-backed, one at a time
SMALL_MODELS = "/tmp/m"  # the rest on disk, so that /dev/shm (half the RAM) holds the big one
BIG = threading.Semaphore(1)  # models over ~15B (a flag `--big` on any of their jobs) prepare one at a time
# One preparation at a time across lanes (2-64 s each): each build reads the GPU's free memory to choose where it is
# made (unsloth_sft.build_device), and two builds at once would both count the same free memory (round 54c).
PREPARE = threading.Lock()
BATCH_FLAGS = ("--big", "--build-4bit")  # read by the batch, not passed to `unsloth_sft.py run`


def read_plan(path: str) -> list[tuple[str, list[str]]]:
    jobs = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            name, *rest = shlex.split(line)
            jobs.append((name, rest))
    return jobs


def done_cells(paths: list[str]) -> set[str]:
    cells = set()
    for p in paths:
        if os.path.exists(p):
            for line in open(p):
                rec = json.loads(line)
                if rec.get("status") in ("ok", "oom"):
                    cells.add(rec["cell"])
    return cells


def job_cells(name: str, args: list[str]) -> list[str]:
    from unsloth_sft import cell_id, parse_shapes

    flag = lambda f, d: args[args.index(f) + 1] if f in args else d  # noqa: E731
    env = [args[i + 1] for i, a in enumerate(args) if a == "--env"]
    return [cell_id(name, args[0], flag("--quant", "on-load"), int(flag("--rank", "16")), b, s, flag("--emulate", None), env,
                    flag("--tag", None))
            for b, s in parse_shapes(args[1])]


def group_jobs(plan: list[tuple[str, list[str]]], done: set[str]) -> list[tuple[str, list[list[str]]]]:
    """The plan's jobs not yet done, grouped by what they need prepared: a NAME's `--build-4bit` jobs (the 4-bit save
    alone) apart from its other jobs (the 16-bit save they load), so that a plan may mix the two for one model (round 68's
    16-bit LoRA cell of GLM-4.7-Flash found no 16-bit save when they were grouped together)."""
    groups: dict[tuple[str, bool], list[list[str]]] = {}
    for name, args in plan:
        if not set(job_cells(name, args)) <= done:
            groups.setdefault((name, "--build-4bit" in args), []).append(args)
    return [(name, jobs) for (name, _), jobs in groups.items()]


# The save a job loads by its --quant, beside the 16-bit one (none: that one), and the flag that prepares it.
SAVES = {"prequantized": "-bnb-4bit", OVER_FP8: "-fp8"}
PREPARE_FLAGS = {"prequantized": "--prequantize", OVER_FP8: "--fp8-per-tensor"}


def quant_form(args: list[str]) -> str:
    """A job's --quant (unsloth_sft.py run's default: on-load)."""
    return args[args.index("--quant") + 1] if "--quant" in args else "on-load"


def prepare_flags(jobs: list[list[str]]) -> list[str]:
    """The `unsloth_sft.py prepare` flags that save what a NAME's jobs load beside its 16-bit save."""
    forms = {quant_form(j) for j in jobs}
    return [flag for form, flag in PREPARE_FLAGS.items() if form in forms]


class Lane(threading.Thread):
    def __init__(self, index: int, queue: list, outdir: str, deadline: float, lanes: int) -> None:
        super().__init__(daemon=True)
        self.index, self.queue, self.outdir, self.deadline, self.lanes = index, queue, outdir, deadline, lanes
        self.log = open(os.path.join(outdir, f"log-{index}.txt"), "a", buffering=1)

    def sh(self, argv: list[str], timeout: float) -> int:
        self.log.write(f"\n$ {' '.join(argv)}  (timeout {timeout:.0f}s)\n")
        env = dict(os.environ, CALIB_CONCURRENT=str(self.lanes), PYTHONUNBUFFERED="1")
        try:
            p = subprocess.run(argv, stdout=self.log, stderr=subprocess.STDOUT, timeout=max(1, timeout), env=env, cwd=HERE)
            return p.returncode
        except subprocess.TimeoutExpired:
            self.log.write("[timeout]\n")
            return -9

    def run(self) -> None:
        while True:
            try:
                name, jobs = self.queue.pop(0)
            except IndexError:
                return
            left = self.deadline - time.time()
            if left < 120:
                self.log.write(f"[skip] {name}: {left:.0f}s left\n")
                continue
            big = any("--big" in j for j in jobs)
            build_4bit = any("--build-4bit" in j for j in jobs)
            jobs = [[a for a in j if a not in BATCH_FLAGS] for j in jobs]
            if big:
                BIG.acquire()
            try:
                self.model(name, jobs, MODELS if big else SMALL_MODELS, build_4bit)
            finally:
                if big:
                    BIG.release()

    def model(self, name: str, jobs: list[list[str]], folder: str, build_4bit: bool = False) -> None:
        """Prepare NAME once, run its jobs, remove it."""
        path = os.path.join(folder, name)
        how = ["--build-4bit"] if build_4bit else prepare_flags(jobs)
        t0 = time.time()
        with PREPARE:
            rc = self.sh([sys.executable, "unsloth_sft.py", "prepare", name, path] + how,
                         self.deadline - time.time() - 60)
        print(f"[lane {self.index}] prepared {name} rc={rc} in {time.time() - t0:.0f}s", flush=True)
        for args in jobs if rc == 0 else []:
            left = self.deadline - time.time()
            if left < 60:
                self.log.write(f"[skip] {name} {args}: {left:.0f}s left\n")
                continue
            where = path + SAVES.get(quant_form(args), "")
            out = os.path.join(self.outdir, f"unsloth-{self.index}.jsonl")
            t0 = time.time()
            rc = self.sh([sys.executable, "unsloth_sft.py", "run", name, where, args[0], out, "--shapes", args[1],
                          *args[2:], "--deadline-s", str(int(left - 45))], left - 15)
            print(f"[lane {self.index}] {name} {' '.join(args)} rc={rc} in {time.time() - t0:.0f}s", flush=True)
        for suffix in ("", *SAVES.values()):
            shutil.rmtree(path + suffix, ignore_errors=True)
        from unsloth_sft import SPILL  # shards prepare wrote outside PATH (spill_when_full)

        shutil.rmtree(SPILL, ignore_errors=True)


def main() -> None:
    plan, outdir = sys.argv[1], sys.argv[2]
    lanes = int(sys.argv[sys.argv.index("--lanes") + 1]) if "--lanes" in sys.argv else 2
    budget = float(sys.argv[sys.argv.index("--budget-s") + 1]) if "--budget-s" in sys.argv else 540
    done = done_cells([a for i, a in enumerate(sys.argv) if i and sys.argv[i - 1] == "--done"])
    queue = group_jobs(read_plan(plan), done)
    print(f"{sum(len(j) for _, j in queue)} jobs in {len(queue)} models, {lanes} lanes, {budget:.0f}s", flush=True)
    os.makedirs(MODELS, exist_ok=True)
    os.makedirs(SMALL_MODELS, exist_ok=True)
    deadline = time.time() + budget
    threads = [Lane(i, queue, outdir, deadline, lanes) for i in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"finished, {max(0, deadline - time.time()):.0f}s of the budget left", flush=True)


if __name__ == "__main__":
    main()
