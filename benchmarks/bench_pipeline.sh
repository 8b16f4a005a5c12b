#!/usr/bin/env bash
# Pipeline overhead: a no-op `snakemake` and a no-op `dvc repro` on a finished workspace
# (goal: each under 3 s), and, with --full, the whole offline main job from a clean clone.
#
#   benchmarks/bench_pipeline.sh WORKSPACE TARGET      # e.g. . results/pix2pix/fid.json
#   benchmarks/bench_pipeline.sh --full                # clean clone -> `snakemake --cores 2` (long)
#
# WORKSPACE must be finished for TARGET (every stage up to TARGET done and recorded in dvc.lock);
# both tools must then find nothing to do, which the script checks before it reports a time.
set -euo pipefail

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() {  # median wall seconds of 3 runs of "$@"
  for _ in 1 2 3; do
    local t0=$(date +%s.%N); "$@" >/dev/null 2>&1; local t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
  done | median
}

if [[ "${1:-}" == "--full" ]]; then
  repo=$(cd "$(dirname "$0")/.." && pwd)
  work=$(mktemp -d)/ganflow
  git clone -q "$repo" "$work"
  cd "$work"
  t0=$(date +%s)
  snakemake --cores "${CORES:-2}" >"$work/full_run.log" 2>&1
  echo "full offline pipeline from a clean clone: $(( $(date +%s) - t0 )) s (cores=${CORES:-2}; log: $work/full_run.log)"
  exit 0
fi

work=${1:?usage: bench_pipeline.sh WORKSPACE TARGET}
target=${2:?usage: bench_pipeline.sh WORKSPACE TARGET}
cd "$work"
stage=$(python - "$target" <<'PY'
import sys, yaml
d = yaml.safe_load(open("dvc.yaml"))["stages"]
t = sys.argv[1]
print(next(n for n, s in d.items() for key in ("outs", "metrics", "plots") for o in s.get(key, [])
           if (o if isinstance(o, str) else next(iter(o))) == t))
PY
)
# Nothing to do in either tool, or the timing would include real work.
if ! snakemake -n --cores 2 "$target" 2>&1 | grep -q "Nothing to be done"; then
  echo "snakemake has work to do for $target in $work: finish the workspace first" >&2; exit 1
fi
if dvc status "$stage" 2>/dev/null | grep -q "changed"; then
  echo "dvc repro has work to do for $stage in $work: finish the workspace first" >&2; exit 1
fi
sm=$(timeit snakemake --cores 2 "$target")
dv=$(timeit dvc repro "$stage")
printf '%-40s %8s\n' "no-op (median of 3)" "seconds"
printf '%-40s %8.2f\n' "snakemake --cores 2 $target" "$sm" "dvc repro $stage" "$dv"
