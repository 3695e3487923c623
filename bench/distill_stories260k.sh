#!/bin/bash
# Logit distillation of stories260K (5 layers, the teacher) into a 2-layer student of the same vocab,
# against the same student trained on the same text with hard labels only (flotilla train).
# The text is sampled from the teacher (temperature 1; held-out stories from other seeds).
# Usage: bench/distill_stories260k.sh [path/to/flotilla] [work dir] [steps]
set -euo pipefail
FLOTILLA=${1:-build/bin/flotilla}
WORK=${2:-/tmp/flotilla_distill_stories}
STEPS=${3:-300}
SHARED=${FLOTILLA_SHARED:-$(dirname "$0")/../../shared}
TEACHER=$SHARED/models/stories260K/stories260K-f32.gguf
[ -f "$TEACHER" ] || { echo "SKIPPED: no $TEACHER"; exit 0; }
mkdir -p "$WORK"

sample() {  # seeds first..last -> stories on stdout
  for s in $(seq "$1" "$2"); do
    printf "Once upon a time"
    "$FLOTILLA" run -m "$TEACHER" -p "Once upon a time" -n 200 --temp 1 --seed "$s" -t 2 2>/dev/null
    echo
  done
}
[ -s "$WORK/train.txt" ] || sample 1 400 > "$WORK/train.txt"
[ -s "$WORK/heldout.txt" ] || sample 10001 10060 > "$WORK/heldout.txt"
echo "corpus: $(wc -c < "$WORK/train.txt") bytes train, $(wc -c < "$WORK/heldout.txt") bytes held out"

ppl() { "$FLOTILLA" perplexity -m "$1" -f "$WORK/heldout.txt" -c 128 --kv-type f32 -t 2 2>/dev/null | grep "Final estimate"; }
COMMON="--preset stories260k --n-layer 2 --data $WORK/train.txt --steps $STEPS --batch 16 --ctx 128 --lr 3e-3
        --eval-every 100 --seed 1 -t 2 --no-progress"

echo "teacher: $(ppl "$TEACHER")"
/usr/bin/time -f "distill wall %e s" "$FLOTILLA" distill --teacher "$TEACHER" --temperature 2 --alpha 0.9 $COMMON \
  --out "$WORK/student_distill.gguf" | grep -E "^(before|after|trained)"
echo "distilled student: $(ppl "$WORK/student_distill.gguf")"
/usr/bin/time -f "train wall %e s" "$FLOTILLA" train --vocab "$TEACHER" $COMMON --out "$WORK/student_ce.gguf" \
  | grep -E "^trained"
echo "hard-label student: $(ppl "$WORK/student_ce.gguf")"
