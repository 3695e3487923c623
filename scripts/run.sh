#!/usr/bin/env bash
# The main job (`make run`): serves the example fleet of examples/fleet/ (fleet.toml) — a harbor
# storyteller, a support-ticket intent classifier and a router choosing between them for "auto".
# On first start it trains the three models from our example data into examples/fleet/models/
# (skipped when they are there), then starts `flotilla serve examples/fleet/fleet.toml`.
# Env: FLOTILLA_PORT (default 8080), FLOTILLA_HOST (default 127.0.0.1).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/bin/flotilla"
fleet="$root/examples/fleet"
models="$fleet/models"
host=${FLOTILLA_HOST:-127.0.0.1}
port=${FLOTILLA_PORT:-8080}
mkdir -p "$models"

# Each model is written under a temporary name and renamed when complete, so an interrupted first
# start trains again instead of serving half a file.
train_classifier() {  # NAME DATA
  [ -f "$models/$1.gguf" ] && return
  echo "run: training the $1 classifier on ${2#$root/}"
  "$bin" train classify --train "$2" -o "$models/$1.tmp.gguf"
  mv "$models/$1.tmp.gguf" "$models/$1.gguf"
}
train_classifier router "$fleet/data/router.csv"
train_classifier intent "$fleet/data/intents.csv"
if [ ! -f "$models/harbor.gguf" ]; then
  echo "run: training the harbor storyteller (stories260k shape) on examples/corpus/harbor.txt"
  rm -f "$models/harbor.tmp.gguf" "$models/harbor.tmp.gguf.ckpt"
  "$bin" train --preset stories260k --data "$root/examples/corpus/harbor.txt" --steps 150 --batch 8 -c 64 \
    --lr 3e-3 --eval-every 100 --out "$models/harbor.tmp.gguf"
  mv "$models/harbor.tmp.gguf" "$models/harbor.gguf"
  rm -f "$models/harbor.tmp.gguf.ckpt"
fi

url="http://$host:$port"
cat <<MSG
run: serving examples/fleet/fleet.toml on $url (Ctrl-C stops it). Try:
  curl $url/v1/chat/completions -H 'Content-Type: application/json' -d '{"model": "auto", "messages": [{"role": "user", "content": "i was charged twice for my ferry ticket"}]}'
  curl $url/v1/chat/completions -H 'Content-Type: application/json' -d '{"model": "auto", "messages": [{"role": "user", "content": "tell me a story about the red boat"}], "max_tokens": 60}'
  curl $url/v1/classify -H 'Content-Type: application/json' -d '{"model": "intent", "input": ["where is the lost and found", "the crew was rude"]}'
  curl $url/v1/models; curl $url/metrics
MSG
exec "$bin" serve "$fleet/fleet.toml" --host "$host" --port "$port"
