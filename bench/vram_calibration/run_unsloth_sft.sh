#!/usr/bin/env bash
# Unsloth-stack SFT cells on the GPU machine (see unsloth_sft.py, unsloth_batch.py).
# Wheels and environment: unsloth_env.sh (.whl-hybrid/, when carried, gives hybrid models the Mamba-2 fast path).
# Usage (repo root, on the GPU machine): OUT=/some/dir bash bench/vram_calibration/run_unsloth_sft.sh PLAN [BUDGET_S] [LANES]
set -u -o pipefail
PLAN=$1; BUDGET=${2:-520}; LANES=${3:-2}
source bench/vram_calibration/unsloth_env.sh
python3 -c 'import unsloth, torch, trl, transformers; print("unsloth", unsloth.__version__, "torch", torch.__version__, "trl", trl.__version__, "transformers", transformers.__version__)' 2>&1 | tail -3
[ -n "$SHIMS" ] && python3 $HERE/hybrid_kernels.py 2>&1 | grep '^\[kernels\]' | cut -c1-600  # the fast kernels transformers binds
python3 $HERE/unsloth_batch.py "$PLAN" "$OUT" --lanes "$LANES" --budget-s "$BUDGET" --done $HERE/data/unsloth_sft_1gpu.jsonl
grep -h '^\[' "$OUT"/log-*.txt | grep -v '^\[prepared\]' | cut -c1-300
