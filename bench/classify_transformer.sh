#!/usr/bin/env bash
# flotilla's transformer classifier (family 2, `train classify --family transformer`, default settings)
# on the same splits of CLINC150 and Banking77 as bench/classify_vs_fasttext.sh: in-scope accuracy,
# out-of-scope recall with abstain, training time, latency p50/p99 per text.
#
#   bench/classify_transformer.sh            # uses build/bin/flotilla (FLOTILLA_BIN to override)
#
# Extra `train classify` flags may follow (e.g. --backbone M.gguf). Needs ../shared/data
# (FLOTILLA_SHARED to override) and python3. Work files go to a temporary directory removed at the end;
# FLOTILLA_KEEP=DIR keeps the models there instead.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-$root/build/bin/flotilla}
shared=${FLOTILLA_SHARED:-$root/../shared}
data=$shared/data
[ -x "$bin" ] || { echo "classify_transformer: no flotilla binary at $bin (build it or set FLOTILLA_BIN)" >&2; exit 1; }
[ -d "$data/clinc150" ] && [ -d "$data/banking77" ] || { echo "classify_transformer: no $data/{clinc150,banking77}" >&2; exit 1; }
command -v python3 > /dev/null || { echo "classify_transformer: needs python3" >&2; exit 1; }

if [ -n "${FLOTILLA_KEEP:-}" ]; then
  tmp=$FLOTILLA_KEEP
  mkdir -p "$tmp"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi

# The splits of classify_vs_fasttext.sh, as JSONL.
python3 - "$data" "$tmp" <<'PY'
import csv, json, sys
data, tmp = sys.argv[1], sys.argv[2]
def write(name, rows):
    with open(f"{tmp}/{name}.jsonl", "w") as j:
        for text, label in rows:
            j.write(json.dumps({"text": " ".join(text.split()), "label": label}) + "\n")
d = json.load(open(f"{data}/clinc150/data_full.json"))
write("clinc_train", d["train"] + d["oos_train"])
write("clinc_dev", d["val"] + d["oos_val"])
write("clinc_test", d["test"] + d["oos_test"])
for split in ("train", "test"):
    with open(f"{data}/banking77/{split}.csv", newline="") as f:
        write(f"bank_{split}", [(r["text"], r["category"]) for r in csv.DictReader(f)])
PY

run() {  # name train test [dev] -- extra flags
  local name=$1 train=$2 test=$3 dev=$4
  shift 4
  local devflag=()
  [ -n "$dev" ] && devflag=(--dev "$dev")
  echo "== $name: $bin train classify --family transformer --train $(basename "$train") ${devflag[*]:+--dev $(basename "$dev")} $*" >&2
  "$bin" train classify --family transformer --train "$train" "${devflag[@]}" -o "$tmp/tf_$name.gguf" -v "$@" >&2
  "$bin" eval classify -m "$tmp/tf_$name.gguf" --test "$test" --json > "$tmp/tf_$name.json"
  python3 - "$tmp/tf_$name.json" "$name" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
o = e.get("out_of_scope")
lat = e["latency_ms"]
print(f"{sys.argv[2]}: accuracy {e['accuracy']:.4f} macro-F1 {e['macro_f1']:.4f} ECE {e['ece']:.4f} "
      f"train {e['train_seconds']:.1f} s latency p50 {lat['p50']:.3f} ms p99 {lat['p99']:.3f} ms")
print("  coverage at precision:", json.dumps(e["coverage_at_precision"]), " abstain:", json.dumps(e["abstain"]))
if o:
    print(f"  in-scope acc {o['in_scope_accuracy']:.4f} (+abstain {o['in_scope_accuracy_with_abstain']:.4f}), "
          f"oos recall {o['oos_recall']:.4f} (+abstain {o['oos_recall_with_abstain']:.4f})")
PY
}

run clinc150 "$tmp/clinc_train.jsonl" "$tmp/clinc_test.jsonl" "$tmp/clinc_dev.jsonl" "$@"
run banking77 "$tmp/bank_train.jsonl" "$tmp/bank_test.jsonl" "" "$@"
