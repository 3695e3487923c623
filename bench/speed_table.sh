#!/usr/bin/env bash
# The inference speed table of bench/RESULTS.md: `flotilla bench` (pp128 and tg128, 1 and 2 threads) on
# stories110M-shaped models that `flotilla init` makes (the shape of llama.cpp's synth110M reference:
# dim 768, 12 layers, ffn 2048, vocab 32000) in F16, Q8_0, Q4_0 and Q4_K, and on ../shared's synth15M
# files, beside llama.cpp's figures from ../shared/ref/bench_summary.csv (2 threads, mean of its passes).
#
#   bench/speed_table.sh [REPS]       # REPS timed runs per test (default 3); FLOTILLA_BIN, FLOTILLA_SHARED
#
# LARGE=1 adds Q4 models over 100 MB (qwen2.5-0.5b in Q4_0, 265 MiB; llama3.2-1b in Q4_K, 667 MiB; the
# latter takes `init` about 6 minutes to quantize). FLOTILLA_BENCH_DIR=DIR keeps the generated models
# there and reuses them on the next run (default: a temporary directory removed at the end).
#
# Prints one markdown row per model x test x threads: t/s ± sd, ms per run (pp128: time to first token),
# the fraction of the limit the command measured right before each run (read bandwidth for decode;
# for prefill the peak of f32 FMA for float weights, of int8 dot products for quantized ones),
# llama.cpp's t/s and our ratio to it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-$root/build/bin/flotilla}
shared=${FLOTILLA_SHARED:-$root/../shared}
reps=${1:-3}
[ -x "$bin" ] || { echo "speed_table: no flotilla binary at $bin (build it or set FLOTILLA_BIN)" >&2; exit 1; }
command -v python3 > /dev/null || { echo "speed_table: needs python3" >&2; exit 1; }
ref=$shared/ref/bench_summary.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=${FLOTILLA_BENCH_DIR:-$tmp}
mkdir -p "$dir"

models=()
# make NAME ARCH PRESET DTYPE: $dir/NAME-DTYPE.gguf from `flotilla init` unless it is there already.
make() {
  local out="$dir/$1-$4.gguf"
  [ -f "$out" ] || "$bin" init --arch "$2" --preset "$3" --random --dtype "$4" "$out" 2> /dev/null
  models+=("$out")
}
for dtype in f16 q8_0 q4_0 q4_K; do make stories110m llama stories110m "$dtype"; done
if [ "${LARGE:-0}" = 1 ]; then
  make qwen2.5-0.5b qwen2 qwen2.5-0.5b q4_0
  make llama3.2-1b llama llama3.2-1b q4_K
fi
for dtype in f16 q8_0 q4_0; do
  [ -f "$shared/models/synth/synth15M-$dtype.gguf" ] && models+=("$shared/models/synth/synth15M-$dtype.gguf")
done

echo "| model | weights | test | threads | t/s (± sd, $reps runs) | ms/run | roofline | llama.cpp t/s (2 thr) | ratio |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  "$bin" bench -m "$m" -p 128 -n 128 -t 1,2 -r "$reps" --json 2> /dev/null > "$tmp/rows.json"
  python3 - "$tmp/rows.json" "$m" "$ref" <<'PY'
import csv, json, os, sys
rows, model, ref = json.load(open(sys.argv[1])), os.path.basename(sys.argv[2])[:-5], sys.argv[3]
name, dtype = model.rsplit("-", 1)  # llama.cpp's references exist for the stories110m and synth15M shapes
ref_name = {"stories110m": "synth110M"}.get(name, name) + "-" + dtype
llama = {}
if os.path.exists(ref):
    for r in csv.DictReader(open(ref)):
        if r["model"] == ref_name:
            llama.setdefault(r["test"], []).append(float(r["avg_tokens_per_s"]))
for r in rows:
    test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
    if r["n_prompt"]:
        unit = "int8 GOP/s" if r["machine_peak_kind"] == "int8 dot" else "GFLOP/s"
        roof = f"{r['gops']:.0f} {unit} = {100 * r['peak_fraction']:.0f}% of {r['machine_peak_gops']:.0f}"
    else:
        roof = f"{r['gbs']:.1f} GB/s = {100 * r['bw_fraction']:.0f}% of {r['machine_read_gbs']:.1f}"
    ms = 1e3 * (r["n_prompt"] + r["n_gen"]) / r["avg_ts"]
    ref_ts = sum(llama[test]) / len(llama[test]) if r["n_threads"] == 2 and test in llama else None
    ref_col = f"{ref_ts:.0f} ({ref_name})" if ref_ts else ""
    ratio = f"{r['avg_ts'] / ref_ts:.2f}x" if ref_ts else ""
    print(f"| {model} | {dtype} | {test} | {r['n_threads']} | {r['avg_ts']:.1f} ± {r['stddev_ts']:.1f} | {ms:.1f} "
          f"| {roof} | {ref_col} | {ratio} |")
PY
done
