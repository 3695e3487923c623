#!/usr/bin/env bash
# flotilla's n-gram classifier next to fastText on the same splits of CLINC150 and Banking77:
# accuracy, training time, latency per text (and out-of-scope recall on CLINC150).
#
#   bench/classify_vs_fasttext.sh            # uses build/bin/flotilla (FLOTILLA_BIN to override)
#
# Needs ../shared/data (FLOTILLA_SHARED to override) and python3 (to split CLINC150's JSON).
# Installs nothing itself beyond scripts/install-deps.sh (which brings the Debian `fasttext`).
# fastText settings: its supervised tutorial's (-lr 1.0 -epoch 25 -wordNgrams 2 -bucket 200000 -dim 50),
# 2 threads, with and without character n-grams (-minn 2 -maxn 5, "fastText+ch"); flotilla: its defaults. Work files go to a temporary directory that is removed at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLOTILLA_BIN:-$root/build/bin/flotilla}
shared=${FLOTILLA_SHARED:-$root/../shared}
data=$shared/data
[ -x "$bin" ] || { echo "classify_vs_fasttext: no flotilla binary at $bin (build it or set FLOTILLA_BIN)" >&2; exit 1; }
[ -d "$data/clinc150" ] && [ -d "$data/banking77" ] || { echo "classify_vs_fasttext: no $data/{clinc150,banking77}" >&2; exit 1; }
command -v python3 > /dev/null || { echo "classify_vs_fasttext: needs python3" >&2; exit 1; }
bash "$root/scripts/install-deps.sh"
command -v fasttext > /dev/null || { echo "classify_vs_fasttext: fasttext not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Splits as JSONL (flotilla) and "__label__X text" lines (fastText), plus plain texts for latency.
python3 - "$data" "$tmp" <<'PY'
import csv, json, sys
data, tmp = sys.argv[1], sys.argv[2]
def write(name, rows):
    with open(f"{tmp}/{name}.jsonl", "w") as j, open(f"{tmp}/{name}.ft", "w") as f, open(f"{tmp}/{name}.txt", "w") as t:
        for text, label in rows:
            text = " ".join(text.split())
            j.write(json.dumps({"text": text, "label": label}) + "\n")
            f.write(f"__label__{label.replace(' ', '_')} {text}\n")
            t.write(text + "\n")
d = json.load(open(f"{data}/clinc150/data_full.json"))
write("clinc_train", d["train"] + d["oos_train"])
write("clinc_dev", d["val"] + d["oos_val"])
write("clinc_test", d["test"] + d["oos_test"])
write("clinc_test_in", d["test"])
write("clinc_test_oos", d["oos_test"])
for split in ("train", "test"):
    with open(f"{data}/banking77/{split}.csv", newline="") as f:
        write(f"bank_{split}", [(r["text"], r["category"]) for r in csv.DictReader(f)])
PY

now() { date +%s.%N; }
fmt() { python3 -c "import sys; print(f'{float(sys.argv[1]):.${2:-4}f}')" "$1"; }

# fastText: train time, accuracy (P@1 of `fasttext test`), latency per text (predict on the test
# texts minus the load time measured on one text), and the fraction predicted oos on $4 (if given).
fasttext_run() {  # name train test oos_test|"" [extra fastText flags...]
  local name=$1 train=$2 test=$3 oos=${4:-}
  shift 4
  local extra=("$@")
  local t0 t1 t2 t3 t4
  t0=$(now)
  fasttext supervised -input "$train" -output "$tmp/ft_$name" -lr 1.0 -epoch 25 -wordNgrams 2 \
    -bucket 200000 -dim 50 -thread 2 -verbose 0 "${extra[@]}" > /dev/null
  t1=$(now)
  ft_train_s=$(python3 -c "print($t1 - $t0)")
  ft_acc=$(fasttext test "$tmp/ft_$name.bin" "$test" | awk '/^P@1/ {print $2}')
  head -n 1 "$test" > "$tmp/one.ft"
  t2=$(now); fasttext predict "$tmp/ft_$name.bin" "$tmp/one.ft" > /dev/null; t3=$(now)
  fasttext predict "$tmp/ft_$name.bin" "$test" > /dev/null; t4=$(now)
  ft_lat_ms=$(python3 -c "n=sum(1 for _ in open('$test')); print(max(0.0, (($t4-$t3)-($t3-$t2))*1000/n))")
  ft_oos=""
  if [ -n "$oos" ]; then
    ft_oos=$(fasttext predict "$tmp/ft_$name.bin" "$oos" | python3 -c "import sys; l=sys.stdin.read().split(); print(sum(x=='__label__oos' for x in l)/len(l))")
  fi
}

flotilla_run() {  # name train test [dev]
  local name=$1 train=$2 test=$3 dev=${4:-}
  local devflag=()
  [ -n "$dev" ] && devflag=(--dev "$dev")
  "$bin" train classify --train "$train" "${devflag[@]}" -o "$tmp/fl_$name.gguf" > /dev/null
  "$bin" eval classify -m "$tmp/fl_$name.gguf" --test "$test" --json > "$tmp/fl_$name.json"
}

get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'j': j}))" "$@"; }
# The n-gram model's training-time target (issue 6: <= 60 s on 2 cores), from eval's JSON report.
train_target() {
  get "$1" "f\"flotilla: trained in {j['train_seconds']:.1f} s, target <= 60 s: {'met' if j['train_seconds'] <= 60 else 'MISSED'}\""
}

echo "== CLINC150 (150 intents + oos; train 15100, dev 3100, test 5500)"
printf "%-11s %10s %10s %16s %10s %10s %9s %9s\n" system in-acc oos-rec "oos-rec+abstain" "in-acc+ab" train_s p50_ms p99_ms
for v in plain chars; do
  flags=(); label=fastText
  [ $v = chars ] && flags=(-minn 2 -maxn 5) && label=fastText+ch
  fasttext_run clinc "$tmp/clinc_train.ft" "$tmp/clinc_test_in.ft" "$tmp/clinc_test_oos.ft" "${flags[@]}"
  printf "%-11s %10s %10s %16s %10s %10s %9s %9s\n" $label "$(fmt "$ft_acc")" "$(fmt "$ft_oos")" - - "$(fmt "$ft_train_s" 2)" "$(fmt "$ft_lat_ms")" -
done
flotilla_run clinc "$tmp/clinc_train.jsonl" "$tmp/clinc_test.jsonl" "$tmp/clinc_dev.jsonl"
f=$tmp/fl_clinc.json
printf "%-11s %10s %10s %16s %10s %10s %9s %9s\n" flotilla \
  "$(fmt "$(get "$f" "j['out_of_scope']['in_scope_accuracy']")")" "$(fmt "$(get "$f" "j['out_of_scope']['oos_recall']")")" \
  "$(fmt "$(get "$f" "j['out_of_scope']['oos_recall_with_abstain']")")" \
  "$(fmt "$(get "$f" "j['out_of_scope']['in_scope_accuracy_with_abstain']")")" \
  "$(fmt "$(get "$f" "j['train_seconds']")" 2)" "$(fmt "$(get "$f" "j['latency_ms']['p50']")")" \
  "$(fmt "$(get "$f" "j['latency_ms']['p99']")")"
train_target "$f"
echo "flotilla: macro-F1 $(fmt "$(get "$f" "j['macro_f1']")"), ECE $(fmt "$(get "$f" "j['ece']")"), coverage at 95/98/99% precision $(get "$f" "' / '.join(f'{v*100:.1f}%' for v in j['coverage_at_precision'].values())")"

echo
echo "== Banking77 (77 intents; train 10003, test 3080; no dev: flotilla holds out 10% of train to calibrate)"
printf "%-11s %10s %10s %10s %9s %9s\n" system accuracy macro-F1 train_s p50_ms p99_ms
for v in plain chars; do
  flags=(); label=fastText
  [ $v = chars ] && flags=(-minn 2 -maxn 5) && label=fastText+ch
  fasttext_run bank "$tmp/bank_train.ft" "$tmp/bank_test.ft" "" "${flags[@]}"
  printf "%-11s %10s %10s %10s %9s %9s\n" $label "$(fmt "$ft_acc")" - "$(fmt "$ft_train_s" 2)" "$(fmt "$ft_lat_ms")" -
done
flotilla_run bank "$tmp/bank_train.jsonl" "$tmp/bank_test.jsonl"
f=$tmp/fl_bank.json
printf "%-11s %10s %10s %10s %9s %9s\n" flotilla "$(fmt "$(get "$f" "j['accuracy']")")" "$(fmt "$(get "$f" "j['macro_f1']")")" \
  "$(fmt "$(get "$f" "j['train_seconds']")" 2)" "$(fmt "$(get "$f" "j['latency_ms']['p50']")")" \
  "$(fmt "$(get "$f" "j['latency_ms']['p99']")")"
train_target "$f"
echo "flotilla: ECE $(fmt "$(get "$f" "j['ece']")"), coverage at 95/98/99% precision $(get "$f" "' / '.join(f'{v*100:.1f}%' for v in j['coverage_at_precision'].values())"), default abstain: answers $(fmt "$(get "$f" "j['abstain']['coverage']")") at accuracy $(fmt "$(get "$f" "j['abstain']['selective_accuracy']")")"
