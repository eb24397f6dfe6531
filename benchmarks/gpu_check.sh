#!/usr/bin/env bash
# One command for a CUDA machine (estimated 5–7 minutes on one H100: not yet run, no GPU has been
# lent): the `cuda` tests, the text-GAN step benchmark in fp32 and bf16, and relgan_oracle for a fixed
# number of steps; a short table last.
# Figures go to benchmarks/RESULTS.md with the card's name.
#   bash benchmarks/gpu_check.sh            (uses .venv when present, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-$(mktemp -d)}
# The oracle recipes name the data set seqgan-oracle: read it from the benchmark data folder, which
# lies beside the checkout here and inside it (./shared/data) on a lent device machine
for d in ../shared/data shared/data; do
  if [ -z "${TEXTGAN_DATA:-}" ] && [ -d "$d" ]; then export TEXTGAN_DATA="$PWD/$d"; fi
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== cuda tests"
$PY -m pytest -q -m cuda tests 2>&1 | tail -3

echo "== bench_train fp32 / bf16"
$PY benchmarks/bench_train.py --device cuda --json | tail -1 > "$OUT/fp32.json"
$PY benchmarks/bench_train.py --device cuda --bf16 --json | tail -1 > "$OUT/bf16.json"

echo "== relgan_oracle: 1000 MLE steps + 200 adversarial epochs (1 G + 5 D), bf16"
start=$(date +%s)
$PY -m textgan train relgan_oracle --device cuda --out "$OUT/relgan" --set train.progress=false \
  --set train.pretrain_steps=1000 --set train.steps=200 --set eval.every=600 --set train.amp=true | tail -2
relgan_s=$(( $(date +%s) - start ))

$PY - "$OUT" "$relgan_s" <<'PY'
import json, sys
out, relgan_s = sys.argv[1], int(sys.argv[2])
fp32, bf16 = (json.load(open(f"{out}/{k}.json")) for k in ("fp32", "bf16"))
summary = json.load(open(f"{out}/relgan/summary.json"))
print("\n| step | fp32 s | bf16 s |\n|---|---|---|")
for key in fp32:
    if key.endswith("_step_s"):
        print(f"| {key[:-7]} | {fp32[key]:.4f} | {bf16[key]:.4f} |")
print(f"\nrelgan_oracle 1000 MLE + 200 adversarial epochs: {relgan_s} s wall, "
      f"NLL_oracle {summary['nll_oracle']:.3f}")
PY
