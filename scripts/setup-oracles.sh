#!/usr/bin/env bash
# Installs the reference implementations the oracle tests call at run time, from Debian's
# packages: PyTorch 1.13 (python3-torch; tools/export_vit.py and the golden-file generators),
# NumPy and scikit-learn (tools/make_golden_metrics.py), headless Chromium (the explorer page
# of heed explain, loaded in a real browser). The suite passes without them (those
# tests are skipped) except under CI=true, where a skipped oracle test is a failure; .ci/run
# calls this first. Idempotent, as root or through sudo, like scripts/setup.sh.
set -euo pipefail
packages=(python3-torch python3-numpy python3-sklearn python3-nltk libopenblas0-openmp chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-oracles: all ${#packages[@]} packages present"
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-oracles: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "setup-oracles: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
