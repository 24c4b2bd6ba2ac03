"""What the notebook probes (whisper_notebook_probe.py, csm_notebook_probe.py, vision_notebook_probe.py) share:
NVML's peak for the process around a run, read as the calibration cells read it (bench/vram_calibration:
memory.ProcessMemory, unsloth_sft.ProcessPeakSampler), and each optimizer step's wall time."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vram_calibration"))
GIB = 1024**3


def measure_process(run: Callable[[], dict]) -> dict:
    """RUN's own figures, with NVML's peak for this process over it, the CUDA context, torch and the GPU."""
    import torch
    from memory import ProcessMemory
    from unsloth_sft import ProcessPeakSampler

    pm = ProcessMemory("cuda")
    pm.init_cuda()
    with ProcessPeakSampler(pm) as nvml:
        result = run()
    return {**result, "nvml_process_peak_gib": None if nvml.peak is None else round(nvml.peak / GIB, 3),
            "cuda_context_gib": round((pm.cuda_context_bytes or 0) / GIB, 3), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0)}


def step_timer(times: list[float]):
    """A Trainer callback that appends each optimizer step's wall time, the GPU synchronised, to TIMES."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            torch.cuda.synchronize()
            times.append(-time.perf_counter())

        def on_step_end(self, *args, **kwargs):
            torch.cuda.synchronize()
            times[-1] += time.perf_counter()

    return StepTimer()
