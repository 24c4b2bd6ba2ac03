#!/usr/bin/env bash
# Unsloth-stack cells on one GPU (see unsloth_cells.py). Wheels: bitsandbytes in .whl/, Unsloth and
# what it needs beyond the GPU image in .whl-unsloth/ (the GPU machine has no package index).
# Usage (repo root): OUT=/some/dir bash bench/vram_calibration/run_unsloth.sh [BUDGET_S]
set -u -o pipefail
BUDGET=${1:-420}
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
HERE=bench/vram_calibration
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/usite \
  .whl/*.whl .whl-unsloth/*.whl || exit 1
export PYTHONPATH=/tmp/usite PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
python3 -c 'import unsloth, torch; print("unsloth", unsloth.__version__, "torch", torch.__version__)' 2>&1 | tail -5
for arch in ${ARCHS:-Llama-3.2-1B Qwen3-4B Llama-3.1-8B}; do
  [ "$(left)" -lt 60 ] && { echo "[skip] $arch (budget)"; continue; }
  timeout $(( $(left) - 20 )) python3 $HERE/unsloth_cells.py prepare $arch /tmp/m/$arch 2>&1 | grep -E '^\[|Error' | tail -3
  for method in qlora lora; do
    L=$(left); [ "$L" -lt 40 ] && { echo "[skip] $arch $method (budget)"; continue; }
    timeout $(( L - 10 )) python3 $HERE/unsloth_cells.py run $arch /tmp/m/$arch $method "$OUT/unsloth.jsonl" \
      --deadline-s $(( L - 40 )) > "$OUT/log-$arch-$method" 2>&1
    grep -E '^\[' "$OUT/log-$arch-$method" || tail -25 "$OUT/log-$arch-$method"
  done
  rm -rf /tmp/m/$arch
done
echo "finished after $(( $(date +%s) - START ))s"
