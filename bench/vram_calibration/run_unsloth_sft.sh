#!/usr/bin/env bash
# Unsloth-stack SFT cells on the GPU machine (see unsloth_sft.py, unsloth_batch.py).
# Wheels: bitsandbytes in .whl/, Unsloth and what it needs beyond the GPU image in .whl-unsloth/, and when
# present .whl-hybrid/ (mamba-ssm and causal-conv1d without CUDA extensions, einops) with shims/ on PYTHONPATH
# (a torch stand-in for causal-conv1d's CUDA kernel): the Mamba-2 fast path of hybrid models (shims/README.md).
# Usage (repo root, on the GPU machine): OUT=/some/dir bash bench/vram_calibration/run_unsloth_sft.sh PLAN [BUDGET_S] [LANES]
set -u -o pipefail
PLAN=$1; BUDGET=${2:-520}; LANES=${3:-2}
HERE=bench/vram_calibration
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/usite \
  .whl/*.whl .whl-unsloth/*.whl $(ls .whl-hybrid/*.whl 2>/dev/null) 2>&1 | grep -v "^$" | tail -3
SHIMS=; [ -d .whl-hybrid ] && SHIMS=:$PWD/$HERE/shims
export PYTHONPATH=/tmp/usite$SHIMS PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import unsloth, torch, trl, transformers; print("unsloth", unsloth.__version__, "torch", torch.__version__, "trl", trl.__version__, "transformers", transformers.__version__)' 2>&1 | tail -3
[ -n "$SHIMS" ] && python3 $HERE/hybrid_kernels.py 2>&1 | grep '^\[kernels\]' | cut -c1-600  # the fast kernels transformers binds
python3 $HERE/unsloth_batch.py "$PLAN" "$OUT" --lanes "$LANES" --budget-s "$BUDGET" --done $HERE/data/unsloth_sft_1gpu.jsonl
grep -h '^\[' "$OUT"/log-*.txt | grep -v '^\[prepared\]' | cut -c1-300
