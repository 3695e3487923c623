#!/usr/bin/env bash
# ctest driver for the openai npm client test: installs the locked `openai` package into the build
# directory, starts `flotilla serve` on a free loopback port with a tiny random model and runs
# openai_client.test.mjs with node:test. Skips (exit 0, with a message) when node or npm is missing.
# Usage: run.sh FLOTILLA_BIN WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: node/npm not found; the openai client test needs them"
  exit 0
fi
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/openai_client.test.mjs" "$work/"
cd "$work"
if [ ! -d node_modules/openai ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
model="$work/tiny.gguf"
[ -f "$model" ] || "$bin" init --arch llama --preset stories260k --random --vocab-text "$here/../../examples/corpus/harbor.txt" "$model" >/dev/null
key="openai-test-key"
rm -f "$work/log.sqlite"*
"$bin" serve -m "$model" --port 0 -t 1 --api-key "$key" --db "$work/log.sqlite" 2>"$work/serve.stderr" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.stderr" | head -1)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$work/serve.stderr"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start"; cat "$work/serve.stderr"; exit 1; }
FLOTILLA_URL="http://127.0.0.1:$port" FLOTILLA_MODEL=tiny FLOTILLA_KEY="$key" node --test openai_client.test.mjs
