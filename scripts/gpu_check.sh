#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU (issue: "the CUDA path proven"), in one bounded run:
#   1. set up the venv (scripts/setup.sh installs the CUDA build of torch where nvidia-smi answers);
#   2. the CUDA tests (pytest -m gpu), then the whole suite;
#   3. `sim2adapt bench train` for every registered algorithm, CPU beside CUDA, with as many sampler
#      workers as the machine has cores, so the README's table can be filled in.
# Each step has its own time limit, and the whole run stays under LIMIT_S (default 540 s) so that a
# 10-minute remote command returns what it measured. Logs go to $OUT (default: gpu-check/).
#
#   bash scripts/gpu_check.sh            # on the GPU machine
#   LIMIT_S=1200 bash scripts/gpu_check.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/gpu-check}"
LIMIT_S="${LIMIT_S:-540}"
VENV="${VENV:-$ROOT/.venv}"
START=$(date +%s)
mkdir -p "$OUT"
cd "$ROOT"

left() { echo $(( LIMIT_S - ($(date +%s) - START) )); }
run() {  # run NAME SECONDS CMD...: bounded by both its own limit and what is left of LIMIT_S
    local name=$1 seconds=$2; shift 2
    local budget; budget=$(left)
    (( budget < seconds )) && seconds=$budget
    if (( seconds <= 5 )); then echo "skip $name: no time left" | tee -a "$OUT/summary.txt"; return; fi
    echo "== $name (limit ${seconds} s)" | tee -a "$OUT/summary.txt"
    timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
    echo "   exit $? after $(( $(date +%s) - START )) s" | tee -a "$OUT/summary.txt"
    tail -n 25 "$OUT/$name.log"
}

nvidia-smi -L || { echo "gpu_check: no NVIDIA GPU answers nvidia-smi -L" >&2; exit 2; }
run setup 240 env VENV="$VENV" bash scripts/setup.sh
"$VENV/bin/python" -c "import torch, sys; print(torch.__version__, torch.cuda.get_device_name(0)); sys.exit(not torch.cuda.is_available())" \
    || { echo "gpu_check: torch cannot use the GPU" >&2; exit 2; }
run gpu-tests 120 "$VENV/bin/pytest" -q -m gpu -p no:cacheprovider
WORKERS=$(nproc)
for algo in $("$VENV/bin/python" -c "from agents.algorithms import ALGORITHMS; print(' '.join(ALGORITHMS))"); do
    run "bench-train-$algo" 90 "$VENV/bin/sim2adapt" bench train --algo "$algo" --family cheetah-velocity \
        --preset quick --iterations 2 --workers "$WORKERS"
done
run full-suite 300 "$VENV/bin/pytest" -q -p no:cacheprovider -x
echo "gpu_check: done in $(( $(date +%s) - START )) s; logs in $OUT" | tee -a "$OUT/summary.txt"
