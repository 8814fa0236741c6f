#!/usr/bin/env bash
# Installs every build and run dependency of heed from Debian's packages. Idempotent: packages
# already present are skipped, and apt-get runs only when something is missing.
# Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config       # toolchain
  libdnnl-dev                                   # GEMM (oneDNN), chosen by measurement
  ocl-icd-opencl-dev                            # oneDNN's CMake config requires OpenCL (only
                                                # recommended by libdnnl-dev, so named here)
  libopenblas-openmp-dev                        # only for the OpenBLAS-vs-oneDNN benchmark
  nlohmann-json3-dev libcli11-dev zlib1g-dev    # configs, command line, gzip
  libpng-dev                                    # PNG input for predict
  libhwy-dev                                    # Highway: portable SIMD (attention kernels)
  libsentencepiece-dev                          # the subword tokenizer of the text tasks
  libxxhash-dev                                 # checkpoint checksums (xxHash64)
  libcairo2-dev fonts-dejavu-core               # heed explain's pictures (cairo, fontconfig), their font
  python3                                       # scripts/data/*: converting the real data sets
  dataset-fashion-mnist                         # the main job's data (Debian package)
  libgtest-dev libgmock-dev libbenchmark-dev    # tests and benchmarks
  qemu-user                                     # tests: the suite on an emulated older CPU
  clang-14 libclang-rt-14-dev libomp-14-dev     # libFuzzer targets (make fuzz)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
