#!/usr/bin/env bash
# Runs the whole calibration on a 2-GPU machine, writing raw JSONL under $OUT as it goes:
#   single-GPU grid split over GPU 0 and 1 (one process each), fresh-process repeats,
#   the QLoRA-vs-from_pretrained check, then the FSDP cells over both GPUs.
# Cells already in data/*.jsonl are skipped, so a second call picks up what a deadline cut.
# Usage (repo root): OUT=/some/dir bash bench/vram_calibration/run_device.sh [BUDGET_S]
# CPU dry run: DEVICE=cpu TINY=--tiny OUT=/tmp/o bash bench/vram_calibration/run_device.sh 300
set -u -o pipefail
BUDGET=${1:-560}
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
DEVICE=${DEVICE:-cuda}
TINY=${TINY:-}
PY=${PY:-python3}
HERE=bench/vram_calibration
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
{
  date -u; uname -a; nvidia-smi 2>&1 | head -20
  $PY -m pip show torch transformers peft accelerate bitsandbytes nvidia-ml-py 2>&1 | grep -E '^(Name|Version|Location)'
  $PY -c 'import torch, bitsandbytes; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "bnb", bitsandbytes.__version__)'
  env | grep -E '^(NCCL|TORCH|PYTORCH|CUDA)' | sort
} > "$OUT/env.txt" 2>&1

DONE=$(ls $HERE/data/*.jsonl 2>/dev/null | tr '\n' ' ')
GRID_S=$(( $(left) - 260 ))
for w in 0 1; do
  (
    export CUDA_VISIBLE_DEVICES=$w
    $PY $HERE/run_cells.py --worker $w --workers 2 --out "$OUT/gpu$w.jsonl" --device $DEVICE $TINY \
      --deadline-s $GRID_S --skip-done $DONE
    $PY $HERE/run_cells.py --fresh-repeats --worker $w --workers 2 --out "$OUT/fresh.jsonl" --device $DEVICE $TINY \
      --deadline-s $(( $(left) - 200 )) --skip-done $DONE
    if [ $w = 1 ] && [ $(left) -gt 200 ] && ! grep -qs qlora_weights $HERE/data/qlora_load_check.jsonl; then
      timeout 60 $PY $HERE/check_qlora_load.py --out "$OUT/check.jsonl" --device $DEVICE $TINY
    fi
  ) > "$OUT/log$w" 2>&1 &
done
wait

for g in Llama-3.2-1B:full Llama-3.2-1B:lora Llama-3.1-8B:lora Llama-3.1-8B:full Qwen3-14B:full; do
  L=$(left)
  if [ "$L" -lt 45 ]; then echo "[skip] fsdp $g (budget)"; continue; fi
  timeout $(( L - 10 )) torchrun --nproc-per-node 2 $HERE/fsdp_cells.py --group $g --out "$OUT/fsdp.jsonl" \
    --device $DEVICE $TINY --deadline-s $(( L - 40 )) --skip-done $DONE
done >> "$OUT/log1" 2>&1
echo "finished after $(( $(date +%s) - START ))s" | tee -a "$OUT/log1"
grep -h -o -E '^\[[a-z]+\]' "$OUT"/log0 "$OUT"/log1 | sort | uniq -c
grep -c . "$OUT"/*.jsonl
