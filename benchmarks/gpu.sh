#!/usr/bin/env bash
# GPU smoke test and step times against CPU, for a machine with CUDA (never run in CI).
#
#   bash benchmarks/gpu.sh            # uses .venv/bin/python if present, else python
#
# 1. the CUDA smoke tests (skipped without a GPU, so they must *pass* here);
# 2. benchmarks/bench_sg.py step times per method on cpu and on cuda, MLP and CNN;
# 3. the synthetic_gradients and distillation quick presets on cpu and on cuda, into a
#    temporary results root, and their wall times side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
SOBOLEV=("$PY" -m sobolev_lab.cli)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.cuda.get_device_name(0))'
"$PY" -m pytest -q tests/experiments/test_synthetic_gradients.py -k cuda -rs

for task in digits/mlp/3 mnist1d/cnn/3; do
  for dev in cpu cuda; do
    "$PY" benchmarks/bench_sg.py --device "$dev" --task "$task"
  done
done

for study in synthetic_gradients distillation; do
  for dev in cpu cuda; do
    "${SOBOLEV[@]}" run "$study" --preset quick --set "device=$dev" --out "$OUT/$dev" \
      --no-progress > "$OUT/$study-$dev.log"
  done
  "$PY" - "$OUT" "$study" <<'PYEOF'
import sys
from sobolev_lab.results import read_result
out, study = sys.argv[1:]
walls = {}
for dev in ("cpu", "cuda"):
    doc = read_result(f"{out}/{dev}/{study}/quick/result.json")
    walls[dev] = doc["payload"]["timing"]["wall_seconds"]
print(f"{study} quick: cpu {walls['cpu']:.1f} s, cuda {walls['cuda']:.1f} s, "
      f"cpu/cuda {walls['cpu'] / walls['cuda']:.2f}x")
PYEOF
done
