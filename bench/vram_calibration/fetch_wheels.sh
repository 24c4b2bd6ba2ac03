#!/usr/bin/env bash
# Fetch (here, where PyPI is reachable) the wheels the GPU machine's image lacks, cut to fit the 64 MiB carry:
#   .whl/          bitsandbytes 0.50.2 with only its CPU and CUDA 13.0 libraries (the image has torch 2.11.0+cu130)
#   .whl-unsloth/  unsloth / unsloth_zoo 2026.10.9 (unsloth without studio/), trl 1.15.0 and the small pure-Python
#                  packages they import that the image does not have (README.md, "Unsloth stack")
#   .whl-hybrid/   mamba-ssm 2.3.2.post1 and causal-conv1d 1.7.0 built without their CUDA extensions, and einops
#                  (only with --hybrid: their setup.py imports torch, so PYTHON must have it: `pip install
#                  torch==2.11.0` from PyPI, CUDA libraries included, imports on a machine without a GPU; shims/README.md)
# The image runs Python 3.12, so binary wheels are fetched for cp312 manylinux x86_64.
# Usage (repo root): bash bench/vram_calibration/fetch_wheels.sh [--hybrid]
set -euo pipefail
PY=${PYTHON:-python3}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
GET=(-m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64
     --platform manylinux_2_28_x86_64 --platform any)

# keep only the members of wheel $1 whose path matches the extended regex $2 or does not match $3
cut_wheel() {
  local whl=$1 keep=$2 drop=$3 dir; dir=$(mktemp -d -p "$TMP")
  (cd "$dir" && unzip -q "$whl" && find . -type f | grep -E "$drop" | grep -vE "$keep" | xargs -r rm -f \
     && find . -type d -empty -delete && rm -f "$whl" && zip -q -r -X "$whl" .)
}

mkdir -p .whl .whl-unsloth
"$PY" "${GET[@]}" -d .whl bitsandbytes==0.50.2
cut_wheel "$PWD/$(ls .whl/bitsandbytes-0.50.2-*.whl)" 'libbitsandbytes_(cpu|cuda130)\.so$' 'libbitsandbytes_.*\.so$'

"$PY" "${GET[@]}" -d .whl-unsloth unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0 datasets==4.8.5 \
  cut_cross_entropy==25.1.1 tyro==1.0.17 docstring_parser shtab typeguard 'dill<0.4.1' 'multiprocess<0.70.19' \
  msgspec 'pydantic==2.14.*' pydantic_core annotated_types typing_inspection typing_extensions json5 nest_asyncio \
  structlog
cut_wheel "$PWD/$(ls .whl-unsloth/unsloth-2026.10.9-*.whl)" '^$' '^\./studio/'

if [ "${1:-}" = --hybrid ]; then
  mkdir -p .whl-hybrid
  "$PY" "${GET[@]}" -d .whl-hybrid einops==0.8.2
  MAMBA_SKIP_CUDA_BUILD=TRUE MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE \
  CAUSAL_CONV1D_FORCE_BUILD=TRUE "$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl-hybrid \
    mamba_ssm==2.3.2.post1 causal_conv1d==1.7.0
fi
du -sh .whl .whl-unsloth $( [ -d .whl-hybrid ] && echo .whl-hybrid )
