// heed info: what heed runs on (version, SIMD targets, GEMM library and ISA, threads, OpenMP
// wait policy); a quick check that the install works.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/core/version.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/simd.h"

namespace heed::cli {

namespace {
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}
}  // namespace

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print version, SIMD targets, GEMM library and threads");
  cmd->callback([] {
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    const char* limit = std::getenv("HEED_SIMD");
    std::printf("heed %s\n", version());
    std::printf("SIMD kernels: %s (compiled: %s; this CPU runs: %s%s%s)\n",
                kernels::simd::chosen_target().c_str(), joined(kernels::simd::compiled_targets()).c_str(),
                joined(kernels::simd::supported_targets()).c_str(), limit && *limit ? "; HEED_SIMD=" : "",
                limit && *limit ? limit : "");
    std::printf("GEMM: %s %s, ISA %s\n", kernels::blas_name(), kernels::gemm_library_version().c_str(),
                kernels::gemm_isa().c_str());
    std::printf("threads: %d\nOpenMP wait policy: %s\n", num_threads(), wait ? wait : "libgomp default");
  });
}

}  // namespace heed::cli
