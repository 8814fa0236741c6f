// heed: command-line entry point. Errors from the library (heed::Error) are printed as one line
// and exit with status 1; usage errors exit through CLI11's own codes.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "commands.h"
#include "heed/core/error.h"
#include "heed/kernels/simd.h"

namespace {
// libgomp's default lets idle threads spin. On a machine where anything else runs (a compiler,
// the data loader thread, another job) a spinning thread steals the core a descheduled worker
// needs, and every parallel region waits for it: measured here, a ViT training step ran 12x
// slower (55 vs 694 images/s) with one other busy process, and passive waiting was also
// faster on the idle machine (1180 vs 1017 images/s). libgomp reads OMP_WAIT_POLICY once, when
// it loads, so heed sets it and re-executes itself; a value the user set is left alone.
void prefer_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("HEED_NO_REEXEC")) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("HEED_NO_REEXEC", "1", 1);  // never loop, even if exec keeps the old environment
  execv("/proc/self/exe", argv);    // returns only on failure: then run as we are
}
}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_waits(argv);
  CLI::App app{"heed: train, run and inspect self-attention models on the CPU"};
  app.require_subcommand(1);
  heed::cli::register_info(app);
  heed::cli::register_train(app);
  heed::cli::register_eval(app);
  heed::cli::register_predict(app);
  heed::cli::register_bench(app);
  heed::cli::register_tokenizer(app);
  try {
    heed::kernels::simd::limit_targets_from_env();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const heed::Error& e) {
    std::fprintf(stderr, "heed: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heed: unexpected error: %s\n", e.what());
    return 1;
  }
  return 0;
}
