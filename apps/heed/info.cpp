// heed info: version, BLAS, threads; a quick check that the install works.
#include <cstdio>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/kernels/gemm.h"

namespace heed::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print version, GEMM library and thread count");
  cmd->callback([] {
    std::printf("heed %s\nGEMM: %s\nthreads: %d\n", "0.1.0", kernels::blas_name(), num_threads());
  });
}

}  // namespace heed::cli
