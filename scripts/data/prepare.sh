#!/usr/bin/env bash
# Fetches the data a config trains on (what `make run CONFIG=...` calls first): the scripts in
# scripts/data/ for the sets its paths name; Fashion-MNIST for image configs without a data.dir.
# Idempotent, like each of those scripts.
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${1:?usage: scripts/data/prepare.sh CONFIG}
[ -f "$config" ] || { echo "prepare: $config: no such file" >&2; exit 1; }
found=0
if grep -q 'data/spamassassin' "$config"; then scripts/data/spamassassin.sh; found=1; fi
if grep -q 'data/movielens' "$config"; then scripts/data/movielens.sh; found=1; fi
if grep -q 'data/ddtp' "$config"; then scripts/data/ddtp.sh; found=1; fi
if grep -q 'data/fashion-mnist' "$config" || ! grep -q '"task"' "$config" || grep -q '"image-classification"' "$config"; then
  scripts/data/fashion-mnist.sh
  found=1
fi
[ $found -eq 1 ] || echo "prepare: $config names no data set heed fetches; using its paths as they are"
