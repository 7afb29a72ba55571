#!/usr/bin/env bash
# The baseline for local_store_bench's put numbers: copy a file with cp, then sync, for the same
# object sizes (100 KB and 5 MB) on the same disk ($TMPDIR or /tmp unless DIR is given).
#   src/storage/bench_cp_baseline.sh [DIR] [COUNT]
# Prints, per size, files/s and MB/s of "cp src dst_i && sync dst_i" (GNU sync syncs just that
# file's filesystem data when given a path).
set -euo pipefail

dir="${1:-${TMPDIR:-/tmp}}"
count="${2:-50}"
work="$(mktemp -d "$dir/imgflow-cp-bench-XXXXXX")"
trap 'rm -rf "$work"' EXIT

for size in 100000 5000000; do
  head -c "$size" /dev/urandom >"$work/src-$size"
  sync "$work/src-$size"
  start=$(date +%s.%N)
  for ((i = 0; i < count; i++)); do
    cp "$work/src-$size" "$work/dst-$size-$i"
    sync "$work/dst-$size-$i"
  done
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$count" -v size="$size" 'BEGIN {
    t = e - s
    printf "cp+sync %8d bytes: %6d files in %6.3f s  %8.1f files/s  %8.1f MB/s\n",
           size, n, t, n / t, n * size / t / 1e6 }'
  rm -f "$work"/dst-"$size"-*
done
