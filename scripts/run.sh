#!/usr/bin/env bash
# The main job (`make run`): creates a small llama model with a vocab learned from our example text,
# prints `flotilla inspect` of it and tokenizes a sentence with it.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/bin/flotilla"
out="$build/demo"
mkdir -p "$out"
model="$out/stories260k-random.gguf"
"$bin" init --arch llama --preset stories260k --random --vocab-text "$root/examples/corpus/harbor.txt" "$model"
"$bin" inspect "$model"
echo
sentence="The small boats of the harbor know the way and ask when they are unsure."
echo "tokenize: $sentence"
"$bin" tokenize -m "$model" -p "$sentence"
