#!/usr/bin/env bash
# Installs the Debian packages flotilla needs to build, test and benchmark.
# Idempotent: does nothing when every package is already present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and micro-benchmarks
  clang libclang-rt-14-dev                     # libFuzzer and sanitizer runtimes
  libhwy-dev                                   # SIMD (Highway)
  libpcre2-dev                                 # Unicode regexes for BPE pre-tokenizers
  libicu-dev                                   # Unicode properties and NFD for WordPiece
  nlohmann-json3-dev                           # JSON (tokenizer.json import, --json output)
  libcli11-dev                                 # command-line flags
  libcpp-httplib-dev libcurl4-openssl-dev      # HTTP server and client
  libssl-dev                                   # SHA-256 (libcrypto EVP) for download checks
  libsqlite3-dev                               # embedded store
  libtomlplusplus-dev                          # fleet config files (TOML)
  fasttext                                     # peer classifier for bench/classify_vs_fasttext.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
