// Which SIMD code runs. heed is built for baseline x86-64 (unless HEED_NATIVE); its SIMD kernels
// are compiled for several targets with Highway (AVX3_DL, AVX3, AVX2, SSE4, EMU128: see
// CMakeLists.txt) and every call runs the best one this CPU supports (Highway's dynamic
// dispatch). oneDNN's GEMMs choose their own ISA the same way.
#pragma once

#include <string>
#include <vector>

namespace heed::kernels::simd {

// Highway's names, best first: the targets compiled into this binary, and those of them this
// CPU runs (after any limit below).
std::vector<std::string> compiled_targets();
std::vector<std::string> supported_targets();
// The target the dispatched kernels run now.
std::string chosen_target();

// Runs no target better than `name` (Highway's name, any case: "avx2", "SSE4", "emu128"), like
// oneDNN's ONEDNN_MAX_CPU_ISA: for testing older CPUs' code paths and comparing targets. Throws
// naming the compiled targets when `name` is not one of them.
void limit_targets(const std::string& name);
// limit_targets($HEED_SIMD) when that variable is set and not empty.
void limit_targets_from_env();

}  // namespace heed::kernels::simd
