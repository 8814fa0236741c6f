#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang++-14 under ASan + UBSan and runs each
# for a fixed time on a copy of its seed corpus. docs/reliability.md describes the targets.
#
#   scripts/fuzz.sh [seconds_per_target] [target ...]     (default: 60 s, all targets)
#   targets: safetensors idx config image text curves
#
# Everything goes to build-fuzz/ (FUZZ_BUILD overrides): objects (rebuilt only when a source or
# header changes), the fuzz_<target> binaries, the working corpora build-fuzz/corpus/<target>/
# (seeded from tests/fuzz/corpus/<target>/, which is never modified, and kept between runs so
# coverage accumulates), logs in build-fuzz/logs/ and crash inputs in build-fuzz/crashes/<target>/.
# Exits 1 if any target found a crash (or leak, timeout, out-of-memory), naming the crash files.
# Reproduce one: build-fuzz/fuzz_<target> build-fuzz/crashes/<target>/<file>
# FUZZ_ARGS adds libFuzzer flags to every run (e.g. FUZZ_ARGS="-max_len=65536").
# Runs are seeded (FUZZ_SEED, default 1). FUZZ_FRESH=1 (what CI sets) starts every target from the
# committed corpus alone instead of the accumulated one, so a CI run does not depend on earlier
# runs on the same machine.
#
# Needs clang-14, libclang-rt-14-dev (the libFuzzer and sanitizer runtimes) and libomp-14-dev,
# plus the project's own dependencies (scripts/setup.sh installs them all).
# Compiles one file at a time; prefix with `nice -n 19` to stay out of the way of other work.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [seconds_per_target] [target ...]" >&2; exit 2; }
all_targets=(safetensors idx config image text curves)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

out=${FUZZ_BUILD:-build-fuzz}
cxx=${FUZZ_CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: $cxx not found; install clang-14 libclang-rt-14-dev libomp-14-dev (scripts/setup.sh)" >&2
  exit 2
fi

# -Wno-pass-failed: clang reports every `#pragma omp simd` loop it leaves scalar at -O1.
# -D__SANITIZE_ADDRESS__: GCC's spelling of "built with ASan", which heed's allocator checks to
# turn its block cache off (clang 14 only has __has_feature(address_sanitizer)). With the cache
# on, freed tensors stay allocated (up to 4 GiB), use-after-free goes unseen and the fuzzers
# hit their RSS limit.
# shellcheck disable=SC2054  # the commas are inside -fsanitize= values
# The Highway and version definitions are CMakeLists.txt's (heed_arch, HEED_VERSION).
version=$(sed -n 's/^project(heed VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
# HWY_COMPILE_ONLY_STATIC: the fuzzers test the readers, not the SIMD kernels (the test suite runs
# those on every target), and clang 14 crashes ("Cannot select: X86ISD::VRNDSCALE") compiling
# Highway's per-target code inside OpenMP-outlined loop bodies, which it emits without the
# target attribute. Only the baseline target is compiled here.
read -ra cairo_flags <<<"$(pkg-config --cflags cairo fontconfig)"  # cairo.h lives in its own directory
common=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fopenmp -Isrc -D__SANITIZE_ADDRESS__=1
        -DHWY_COMPILE_ONLY_STATIC=1 "-DHEED_VERSION=\"$version\"" "${cairo_flags[@]}"
        -fsanitize=address,undefined -fno-sanitize-recover=all -Wno-pass-failed)
lib_flags=("${common[@]}" -fsanitize=fuzzer-no-link)  # library code: coverage, no main
# shellcheck disable=SC2054
link_flags=(-fsanitize=fuzzer,address,undefined -fopenmp)

libs=(-ldnnl -lpng -lz -lhwy -lsentencepiece -lsentencepiece_train -lxxhash -lcairo -lfontconfig)  # the library's external dependencies; unused ones are not linked in
mkdir -p "$out/obj" "$out/logs" "$out/dict"
# Objects built with other flags are discarded.
flags_id=$("$cxx" --version | head -1; echo "${lib_flags[*]}")
if [ ! -f "$out/obj/flags" ] || [ "$(cat "$out/obj/flags")" != "$flags_id" ]; then
  rm -rf "$out/obj"
  mkdir -p "$out/obj"
  echo "$flags_id" >"$out/obj/flags"
fi

# True when `obj` is missing or older than its source or any header it included.
stale() {
  local obj=$1 dep=${1%.o}.d f
  [ -f "$obj" ] && [ -f "$dep" ] || return 0
  # shellcheck disable=SC2013  # the dependency list is whitespace-separated paths
  for f in $(sed -e '1s/^[^:]*://' -e 's/\\$//' "$dep"); do
    [ -f "$f" ] && [ ! "$f" -nt "$obj" ] || return 0
  done
  return 1
}

compile() {  # source object flags...
  local src=$1 obj=$2
  shift 2
  if stale "$obj"; then
    echo "fuzz: compiling $src"
    mkdir -p "$(dirname "$obj")"
    "$cxx" "$@" -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj"
  fi
}

# Dictionaries of format tokens, so the mutator can splice them in.
cat >"$out/dict/json.dict" <<'EOF'
"{"
"}"
"["
"]"
":"
","
"\""
"true"
"false"
"null"
"-1"
"0"
"1e999"
"1.5"
"18446744073709551615"
"9223372036854775808"
"\\u0000"
"\\ud800"
"__metadata__"
"dtype"
"shape"
"data_offsets"
"F32"
"F64"
"F16"
"BF16"
"I64"
"I32"
"I16"
"I8"
"U8"
"BOOL"
"model"
"train"
"data"
"patch_size"
"dim"
"depth"
"heads"
"mlp_ratio"
"dropout"
"attention_dropout"
"drop_path"
"layer_norm_eps"
"norm"
"pre"
"post"
"image_height"
"image_width"
"channels"
"num_classes"
"epochs"
"batch_size"
"optimizer"
"adamw"
"sgd"
"lr"
"min_lr"
"weight_decay"
"beta1"
"beta2"
"momentum"
"schedule"
"cosine"
"linear"
"constant"
"warmup_epochs"
"label_smoothing"
"clip_grad_norm"
"seed"
"threads"
"log_every"
"time_limit_minutes"
"validation_fraction"
"crop_padding"
"horizontal_flip"
"eval_batch_size"
"class_names"
EOF
cat >"$out/dict/image.dict" <<'EOF'
"P2"
"P3"
"P5"
"P6"
"#"
"255"
"65535"
"16384"
"16385"
"\x89PNG\x0d\x0a\x1a\x0a"
"IHDR"
"PLTE"
"tRNS"
"IDAT"
"IEND"
"gAMA"
"tEXt"
"zTXt"
"iCCP"
"sBIT"
"\x00\x00\x40\x00"
"\x00\x00\x40\x01"
EOF
cat >"$out/dict/idx.dict" <<'EOF'
"\x00\x00\x08\x01"
"\x00\x00\x08\x03"
"\x00\x00\x08\x04"
"\x1f\x8b\x08\x00"
"\x40\x00\x00\x00"
"\xff\xff\xff\xff"
EOF
dict_of() {
  case $1 in
    safetensors | config | text | curves) echo "$out/dict/json.dict" ;;
    *) echo "$out/dict/$1.dict" ;;
  esac
}

# ---- build
# Each target is compiled from its harness plus only the library sources it reaches: for every
# src/heed header a compiled file includes, the .cpp of the same name, or, when there is none
# (ops/ops.h declares what ops/*.cpp define), every .cpp in that header's directory; repeated
# until nothing new turns up. fuzz_safetensors, fuzz_idx and fuzz_image need a handful of
# files; parse_config lives with the trainer, so fuzz_config needs nearly the whole library.
sources_for() {  # harness source -> prints the library sources it needs, compiling as it goes
  local -A seen=()
  local queue=("$1") src dep cpp
  while [ ${#queue[@]} -gt 0 ]; do
    src=${queue[0]}
    queue=("${queue[@]:1}")
    if [ "$src" = "$1" ]; then
      compile "$src" "$out/obj/${src%.cpp}.o" "${common[@]}" -fsanitize=fuzzer >&2
    else
      compile "$src" "$out/obj/${src%.cpp}.o" "${lib_flags[@]}" >&2
      echo "$src"
    fi
    # shellcheck disable=SC2013  # the dependency list is whitespace-separated paths
    for dep in $(sed -e '1s/^[^:]*://' -e 's/\\$//' "$out/obj/${src%.cpp}.d"); do
      [[ $dep == src/heed/*.h ]] || continue
      if [ -f "${dep%.h}.cpp" ]; then
        cpp=("${dep%.h}.cpp")
      else
        mapfile -t cpp < <(find "$(dirname "$dep")" -maxdepth 1 -name '*.cpp' | sort)
      fi
      for c in "${cpp[@]}"; do
        if [ -z "${seen[$c]:-}" ]; then
          seen[$c]=1
          queue+=("$c")
        fi
      done
    done
  done
}

for t in "${targets[@]}"; do
  harness="tests/fuzz/fuzz_$t.cpp"
  sources_for "$harness" >"$out/obj/fuzz_$t.sources"  # (a compile error stops the script here)
  mapfile -t srcs <"$out/obj/fuzz_$t.sources"
  objs=("$out/obj/${harness%.cpp}.o")
  for src in "${srcs[@]}"; do objs+=("$out/obj/${src%.cpp}.o"); done
  bin="$out/fuzz_$t"
  relink=0
  [ -f "$bin" ] || relink=1
  for o in "${objs[@]}"; do [ "$o" -nt "$bin" ] && relink=1; done
  if [ $relink -eq 1 ]; then
    echo "fuzz: linking $bin from ${#srcs[@]} library sources"
    "$cxx" "${link_flags[@]}" "${objs[@]}" -Wl,--as-needed "${libs[@]}" -o "$bin"
  fi
done

# ---- run
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  crashes="$out/crashes/$t"
  if [ "${FUZZ_FRESH:-0}" = 1 ]; then rm -rf "$corpus"; fi
  mkdir -p "$corpus" "$crashes"
  # The committed seeds are copied in (never fuzzed in place); earlier finds are kept.
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$out/logs/$t.log"
  echo "fuzz: running fuzz_$t for ${seconds} s (log: $log)"
  status=0
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  "$out/fuzz_$t" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict="$(dict_of "$t")" -artifact_prefix="$crashes/" -print_final_stats=1 \
    ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1 || status=$?
  runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -aE '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
  if [ $status -ne 0 ]; then
    echo "fuzz: fuzz_$t FAILED (exit $status) after ${runs:-?} runs; last lines of $log:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|deadly signal|out-of-memory|timeout' \
      "$log" | tail -15 >&2 || true
    failed+=("$t")
  else
    echo "fuzz: fuzz_$t ok: ${runs:-?} runs, ${cov:-cov ?}, corpus $(find "$corpus" -type f | wc -l) files"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}; reproduce with $out/fuzz_<target> <file>:" >&2
  for t in "${failed[@]}"; do find "$out/crashes/$t" -type f >&2; done
  exit 1
fi
echo "fuzz: no crashes (${#targets[@]} targets, ${seconds} s each)"
