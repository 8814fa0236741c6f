// Applies HEED_SIMD before any test runs, as the CLI does, so CTest can run the kernel suites
// once per compiled SIMD target (tests/CMakeLists.txt).
#include "heed/kernels/simd.h"

namespace {
const bool kSimdLimitApplied = (heed::kernels::simd::limit_targets_from_env(), true);
}  // namespace
