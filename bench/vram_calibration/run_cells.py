"""Run calibration cells on one GPU and append one JSON line per cell.

    python run_cells.py --worker 0 --workers 2 --out results.jsonl [--deadline-s 540]
    python run_cells.py --cells 'Qwen3-4B/lora/...' --out results.jsonl
    python run_cells.py --fresh-repeats --out fresh.jsonl

Cells that share an architecture and method reuse one built model in this process (between
cells: optimizer and gradients dropped, gc, empty_cache, reset_peak_memory_stats). Cells marked
fresh_process (paged optimizers, the fresh repeats) each run in a child process of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from memory import ProcessMemory, cuda_stat, release, PeakSampler  # noqa: E402
import grid  # noqa: E402
from archs import ARCHS  # noqa: E402

import torch  # noqa: E402

STEPS = 3


def versions(pm: ProcessMemory) -> dict:
    import importlib.metadata as md

    def v(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    gpu = total = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(torch.cuda.current_device())
        gpu, total = p.name, int(p.total_memory)
    return {
        "stack": "transformers", "gpu": gpu, "gpu_total_bytes": total, "driver": pm.nvml.driver(),
        "cuda": torch.version.cuda, "torch": torch.__version__, "transformers": v("transformers"),
        "peft": v("peft"), "bitsandbytes": v("bitsandbytes"), "accelerate": v("accelerate"),
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF"),
        "nvml_bound_index": pm.nvml.index,
    }


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def shrink(fields: dict) -> dict:
    """Tiny version of an architecture for CPU tests of the harness itself."""
    f = dict(fields, num_hidden_layers=2, hidden_size=64, intermediate_size=128, vocab_size=512,
             num_attention_heads=4, num_key_value_heads=2)
    if "head_dim" in fields:
        f["head_dim"] = 32
    if "num_experts" in fields:
        f.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
    return f


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.device = args.device
        self.pm = ProcessMemory(self.device)
        self.pm.init_cuda(int(os.environ.get("LOCAL_RANK", "0")))
        self.env = versions(self.pm)
        self.done_in_process = 0
        self.model = self.base = None

    def fields(self, arch: str) -> dict:
        f = ARCHS[arch]
        return shrink(f) if self.args.tiny else dict(f)

    def write(self, rec: dict) -> None:
        import fcntl

        with open(self.args.out, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
        print(f"[{rec['status']}] {rec['cell']} reserved={rec['peak_reserved_bytes'] / 2**30:.2f}GiB "
              f"alloc={rec['peak_allocated_bytes'] / 2**30:.2f}GiB t={rec['time_s']:.1f}s", flush=True)

    def build_model(self, first: dict):
        from build import build

        return build(self.fields(first["arch"]), first["method"], first["gradient_checkpointing"],
                     first["lora_rank"], first["lora_dropout"] or 0.0, first["target_modules"], self.device)

    def run_group(self, cells: list[dict]) -> None:
        from build import param_facts, set_gradient_checkpointing

        first = cells[0]
        t0 = time.time()
        gc_state = first["gradient_checkpointing"]
        release()
        try:
            self.model, self.base, facts = self.build_model(first)
        except Exception as e:  # the model itself does not fit
            err = f"{type(e).__name__} while building: {str(e)[:400]}"
            status = "oom" if is_oom(e) else "error"
            tb = traceback.format_exc()[-2000:]
            del e
            self.model = self.base = None
            release()
            for c in cells:
                self.write(self.record(c, status=status, error=err, traceback=tb, build_s=time.time() - t0))
            return
        build_s = time.time() - t0
        release()
        weights = cuda_stat("memory_allocated") - self.pm.init_allocated_bytes
        pf = param_facts(self.model)
        for c in cells:
            if self.past_deadline():
                print(f"[skip] {c['cell']} (deadline)", flush=True)
                continue
            if c["gradient_checkpointing"] != gc_state:
                gc_state = c["gradient_checkpointing"]
                set_gradient_checkpointing(self.base, gc_state)
            self.write(self.run_cell(c, weights, pf, facts, build_s))
        self.model = self.base = None
        release()

    def run_cell(self, c: dict, weights: int, pf: dict, facts: dict, build_s: float) -> dict:
        from train import make_optimizer, optimizer_state_bytes, train_steps

        release()
        fresh = self.done_in_process == 0
        self.done_in_process += 1
        start_alloc = cuda_stat("memory_allocated")
        vocab = self.fields(c["arch"])["vocab_size"]
        per_step: list = []
        losses: list = []
        opt = None
        status, err, tb, opt_bytes = "ok", None, None, {}
        t0 = time.time()
        with PeakSampler(self.pm.nvml) as sampler:
            try:
                params = [p for p in self.model.parameters() if p.requires_grad]
                opt = make_optimizer(c["optimizer"], params)
                ids = torch.randint(0, vocab, (c["batch_size"], c["seq_len"]), device=self.device)
                train_steps(self.model, opt, params, ids, self.args.steps, per_step, losses, c["autocast"])
                opt_bytes = optimizer_state_bytes(opt)
            except Exception as e:
                status = "oom" if is_oom(e) else "error"
                err = f"{type(e).__name__}: {str(e)[:600]}"
                tb = None if status == "oom" else traceback.format_exc()[-2000:]
                del e
            if self.device == "cuda":
                torch.cuda.synchronize()
        elapsed = time.time() - t0
        peak_alloc = max([s["peak_allocated_bytes"] for s in per_step] + [cuda_stat("max_memory_allocated")])
        peak_res = max([s["peak_reserved_bytes"] for s in per_step] + [cuda_stat("max_memory_reserved")])
        after_used = self.pm.used_now()
        after_reserved = cuda_stat("memory_reserved")
        proc_used = self.pm.nvml.process_used()
        opt = params = ids = None  # noqa: F841
        for p in self.model.parameters():
            p.grad = None
        rec = self.record(
            c, status=status, error=err, traceback=tb, build_s=build_s, fresh=fresh,
            peak_allocated_bytes=peak_alloc, peak_reserved_bytes=peak_res,
            nvml_peak_used_bytes=None if sampler.peak is None or self.pm.baseline is None
            else sampler.peak - self.pm.baseline,
            nvml_after_steps_used_bytes=after_used,
            reserved_after_steps_bytes=after_reserved,
            cuda_context_end_bytes=None if after_used is None else after_used - after_reserved,
            nvml_process_used_bytes=proc_used,
            weights_bytes=weights, start_allocated_bytes=start_alloc,
            per_step=per_step, losses=losses, time_s=elapsed, **pf, **opt_bytes,
            build_facts=facts,
        )
        release()
        return rec

    def record(self, c: dict, status: str, error, traceback=None, build_s=None, fresh=None, **m) -> dict:
        rec = {k: c[k] for k in ("cell", "arch")}
        rec["config"] = self.fields(c["arch"])
        rec.update({k: c[k] for k in ("method",)})
        rec["stack"] = "transformers"
        rec.update({k: c[k] for k in ("optimizer", "lora_rank", "target_modules", "seq_len", "batch_size",
                                      "gradient_checkpointing", "num_gpus", "sharding", "autocast")})
        tm = (m.get("build_facts") or {}).get("target_modules")
        if tm is not None:
            rec["target_modules"] = tm
        rec.update(status=status, error=error, steps=self.args.steps,
                   peak_allocated_bytes=m.pop("peak_allocated_bytes", cuda_stat("max_memory_allocated")),
                   peak_reserved_bytes=m.pop("peak_reserved_bytes", cuda_stat("max_memory_reserved")),
                   cuda_context_bytes=self.pm.cuda_context_bytes,
                   nvml_peak_used_bytes=m.pop("nvml_peak_used_bytes", None),
                   weights_bytes=m.pop("weights_bytes", None),
                   trainable_params=m.pop("trainable_params", None),
                   total_params=m.pop("total_params", None))
        rec.update(self.env)
        rec.update(fresh_process=bool(fresh) if fresh is not None else self.done_in_process == 0,
                   time_s=round(m.pop("time_s", 0.0), 3))
        rec.update(lora_dropout=c["lora_dropout"], steps_completed=len(m.get("losses", [])),
                   build_s=None if build_s is None else round(build_s, 3),
                   init_allocated_bytes=self.pm.init_allocated_bytes,
                   init_reserved_bytes=self.pm.init_reserved_bytes,
                   nvml_baseline_bytes=self.pm.baseline, traceback=traceback,
                   tiny=bool(self.args.tiny), device=self.device, use_cache=False,
                   max_grad_norm=1.0, lr=1e-5)
        rec.update(m)
        return rec

    def past_deadline(self) -> bool:
        return self.args.deadline is not None and time.time() > self.args.deadline


def child_command(args, cell_id: str) -> list[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--cells", cell_id, "--out", args.out,
           "--device", args.device, "--steps", str(args.steps), "--in-child"]
    if args.tiny:
        cmd.append("--tiny")
    return cmd


def select(args) -> list[dict]:
    cells = grid.all_cells()
    if args.cells:
        spec = open(args.cells[1:]).read() if args.cells.startswith("@") else args.cells
        want = {x.strip() for x in spec.replace("\n", ",").split(",") if x.strip()}
        chosen = [c for c in cells if c["cell"] in want]
    elif args.fresh_repeats:
        chosen = grid.fresh_repeats()
    else:
        chosen = grid.single_gpu_cells()
    done = set()
    for path in args.skip_done or []:
        if os.path.exists(path):
            with open(path) as fh:
                done |= {json.loads(line)["cell"] for line in fh if line.strip()}
    chosen = [c for c in chosen if c["cell"] not in done]
    if args.workers > 1:
        chosen = assign(chosen, args.workers)[args.worker]
    return chosen


def assign(cells: list[dict], n: int) -> list[list[dict]]:
    """Split whole groups over n workers, balancing a rough cost (params x tokens)."""
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault(grid.group_key(c), []).append(c)

    def cost(g):
        p = grid.est_params_b(g[0]["arch"])
        return 3 * p + sum(p * c["batch_size"] * c["seq_len"] / 2048 + 1 for c in g)

    loads = [0.0] * n
    out: list[list[dict]] = [[] for _ in range(n)]
    for g in sorted(groups.values(), key=cost, reverse=True):
        i = loads.index(min(loads))
        loads[i] += cost(g)
        out[i].extend(g)
    for w in out:  # small models first, so a deadline cuts the slowest cells
        w.sort(key=lambda c: (grid.est_params_b(c["arch"]), grid.group_key(c).__repr__()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", help="comma-separated cell ids, or @FILE with one id a line")
    ap.add_argument("--fresh-repeats", action="store_true")
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--deadline-s", type=float, help="stop starting cells after this many seconds")
    ap.add_argument("--skip-done", nargs="*", help="JSONL files whose cells are already measured")
    ap.add_argument("--tiny", action="store_true", help="shrunken architectures (CPU test of the harness)")
    ap.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    args.deadline = None if args.deadline_s is None else time.time() + args.deadline_s
    cells = select(args)
    if args.list:
        for c in cells:
            print(c["cell"])
        print(len(cells), "cells")
        return 0
    in_proc = [c for c in cells if args.in_child or not c["fresh_process"]]
    children = [c for c in cells if not args.in_child and c["fresh_process"]]
    if in_proc:
        runner = Runner(args)
        groups: dict[tuple, list[dict]] = {}
        for c in in_proc:
            groups.setdefault(grid.group_key(c), []).append(c)
        for g in groups.values():
            if runner.past_deadline():
                print(f"[skip] group {grid.group_key(g[0])} (deadline)", flush=True)
                continue
            g.sort(key=lambda c: (not c["gradient_checkpointing"], c["batch_size"] * c["seq_len"]))
            runner.run_group(g)
        del runner
        release()
    for c in children:
        if args.deadline is not None and time.time() > args.deadline:
            print(f"[skip] {c['cell']} (deadline)", flush=True)
            continue
        timeout = None if args.deadline is None else max(10.0, args.deadline + 45 - time.time())
        try:
            subprocess.run(child_command(args, c["cell"]), timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"[timeout] {c['cell']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
