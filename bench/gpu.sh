#!/usr/bin/env bash
# One prepared GPU check (issue 14), under 8 minutes on a CUDA machine:
#   archc vs torchvision train and eval img/s, eager and torch.compile'd, ResNet-50 and DenseNet-121, bf16, batch 256;
#   `archc train`'s default path img/s on synthetic data (ResNet-50, DenseNet-121);
#   memory-efficient DenseNet-121 peak memory and img/s against torchvision's default and memory_efficient=True.
# Writes OUT/gpu.json (one file with everything) and the "GPU check" section of BENCHMARKS.md.
#
#   bash bench/gpu.sh                  # CUDA; OUT defaults to bench-gpu-out/
#   OUT=/tmp/gpu bash bench/gpu.sh
#   bash bench/gpu.sh --dry-run        # the same steps on the CPU at toy sizes (checks the scripts; BENCHMARKS.md
#                                      # untouched, the section goes to OUT/BENCHMARKS.gpu.md)
# Each step has its own time limit; a step that fails or runs out of time is reported as missing, the others run.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
ARCHC=("$PY" -m archc)
OUT=${OUT:-bench-gpu-out}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
mkdir -p "$OUT"
# torch.compile's caches shared by the steps: the archc and torchvision models lower to the same aten graphs
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$OUT/inductor-cache}
export TF_CPP_MIN_LOG_LEVEL=2
START=$(date +%s)
BUDGET=${BUDGET:-450}  # seconds for all steps; the report needs a few more
SCALE=1

step() {  # step NAME LIMIT_SECONDS COMMAND...: run with a time limit, never beyond the budget
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -le 10 ]; then echo "== $name: skipped (budget spent)"; return; fi
  limit=$((limit * SCALE))
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s)"
  timeout --signal=INT --kill-after=10 "$limit" "$@" || echo "== $name: failed or timed out (status $?)"
}

if [ $DRY = 1 ]; then
  DEVICE=(--device cpu); TV=(--models resnet18 --batch-size 2 --image-size 64 --repeats 1 --iterations 1 --modes eager)
  TRAIN_MODELS="resnet20"; TRAIN=(--subset 64 --test-subset 32 --epochs 1 --batch-size 32 --device cpu)
  ME=(--models densenet_bc_100_12 --batch-size 2 --iterations 1 --repeats 1 --device cpu)
  MARKDOWN=$OUT/BENCHMARKS.gpu.md
  SCALE=3; BUDGET=$((BUDGET * SCALE))  # a (shared) CPU is slower than any GPU: longer limits
else
  DEVICE=(); TV=(--models resnet50,densenet121 --batch-size 256 --repeats 3 --iterations 10 --modes eager,compile)
  TRAIN_MODELS="resnet50 densenet121"; TRAIN=(--subset 7680 --test-subset 256 --epochs 2 --batch-size 256)
  ME=(--models densenet121 --batch-size 256 --image-size 224 --iterations 5 --repeats 2)
  MARKDOWN=BENCHMARKS.md
fi

"$PY" - "$OUT/env.json" <<'PYEOF'
import datetime, json, sys
import torch
card = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU dry run)"
json.dump({"card": card, "torch": torch.__version__, "cuda": torch.version.cuda,
           "date": datetime.date.today().isoformat()}, open(sys.argv[1], "w"))
print("card:", card)
PYEOF

step "archc vs torchvision" 240 "$PY" bench/torch_vs_torchvision.py "${DEVICE[@]}" "${TV[@]}" \
  --json "$OUT/torch_vs_torchvision.json"
for model in $TRAIN_MODELS; do
  rm -rf "$OUT/runs-$model"
  step "archc train $model" 150 "${ARCHC[@]}" train "$model" --data synthetic "${TRAIN[@]}" --no-progress \
    --out "$OUT/runs-$model" && cp "$OUT"/runs-"$model"/*/metrics.jsonl "$OUT/train_$model.jsonl" 2>/dev/null
done
step "memory-efficient DenseNet-121" 120 "$PY" bench/memory_efficient.py "${ME[@]}" --json "$OUT/memory_efficient.json"
"$PY" bench/gpu_report.py --folder "$OUT" --json "$OUT/gpu.json" --markdown "$MARKDOWN"
echo "wrote $OUT/gpu.json and the GPU section of $MARKDOWN in $(( $(date +%s) - START ))s"
