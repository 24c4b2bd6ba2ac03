#!/usr/bin/env bash
# detect_gpus on a real NVIDIA machine: the CLI, the MCP tool over stdio, and CUDA_VISIBLE_DEVICES.
# Run from the repository root on the GPU machine, with the wheels of the runtime dependencies
# in .whl-mcp/ (the machine has no package index):  bash bench/gpu_check/run.sh
set -uo pipefail
site=/tmp/fa-site
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl-mcp/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" . || exit 1
export PYTHONPATH="$site"
cli() { python3 -c 'import sys; from finetune_advisor.server.cli import main; sys.exit(main(sys.argv[1:]))' "$@"; }

echo "== nvidia-smi"; nvidia-smi --query-gpu=index,name,memory.total,memory.free,compute_cap,driver_version --format=csv
echo "== finetune-advisor gpu"; cli gpu
echo "== finetune-advisor gpu --json"; cli gpu --json
echo "== CUDA_VISIBLE_DEVICES= finetune-advisor gpu --json"; CUDA_VISIBLE_DEVICES= cli gpu --json
echo "== CUDA_VISIBLE_DEVICES=0 finetune-advisor gpu"; CUDA_VISIBLE_DEVICES=0 cli gpu
echo "== detect_gpus over MCP stdio"
python3 - <<'PY'
import anyio, json, os, sys
from mcp import Client, StdioServerParameters

async def main():
    params = StdioServerParameters(command=sys.executable, args=["-m", "finetune_advisor.server", "serve"],
                                   env={"PYTHONPATH": os.environ["PYTHONPATH"], "PATH": os.environ["PATH"]})
    async with Client(params) as c:
        r = await c.call_tool("detect_gpus", {})
        print(json.dumps(r.structured_content, indent=2))
        res = await c.read_resource("gpu://local")
        print("gpu://local equals the tool result:", json.loads(res.contents[0].text) == r.structured_content)
anyio.run(main)
PY
