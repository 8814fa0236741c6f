#!/usr/bin/env bash
# Puts Fashion-MNIST (gzip IDX files) in data/fashion-mnist/, from Debian's
# dataset-fashion-mnist package (installed when missing). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=/usr/share/datasets/fashion-mnist
dst=data/fashion-mnist
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

if [ ! -f "$src/${files[0]}" ]; then
  if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq dataset-fashion-mnist
fi
mkdir -p "$dst"
for f in "${files[@]}"; do
  [ -e "$dst/$f" ] || ln -s "$src/$f" "$dst/$f"
done
echo "fashion-mnist: $(ls "$dst" | wc -l) files in $dst"
