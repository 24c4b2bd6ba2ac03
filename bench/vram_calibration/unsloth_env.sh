# Sourced by run_unsloth_sft.sh and run_probes.sh on the GPU machine (repo root): installs the carried wheels in
# /tmp/usite (bitsandbytes in .whl/, Unsloth and what it needs beyond the GPU image in .whl-unsloth/, and when present
# .whl-hybrid/ with shims/ on PYTHONPATH: a torch stand-in for causal-conv1d's CUDA kernel, shims/README.md) and sets
# the offline environment both run in.
HERE=bench/vram_calibration
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/usite \
  .whl/*.whl .whl-unsloth/*.whl $(ls .whl-hybrid/*.whl 2>/dev/null) 2>&1 | grep -v "^$" | tail -3
SHIMS=; [ -d .whl-hybrid ] && SHIMS=:$PWD/$HERE/shims
export PYTHONPATH=/tmp/usite$SHIMS PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tail -1
