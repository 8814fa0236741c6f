// heed: command-line entry point. Errors from the library (heed::Error) are printed as one line
// and exit with status 1; usage errors exit through CLI11's own codes; a training run stopped by
// SIGINT / SIGTERM exits 130 / 143. Output that could not be written (a full disk, /dev/full, a
// closed pipe) is an error too: a report cut short must not look like success.
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <cstring>
#include <exception>
#include <string>

#include "commands.h"
#include "heed/core/error.h"
#include "heed/core/version.h"
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

// CLI11 reports an unknown first word as "A subcommand is required" or as an unexpected
// argument; say what the user typed and what exists instead.
bool check_command_name(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return true;
  std::string known;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == argv[1]) return true;
    known += (known.empty() ? "" : ", ") + sub->get_name();
  }
  std::fprintf(stderr, "heed: error: unknown command '%s' (commands: %s; heed --help lists them)\n", argv[1],
               known.c_str());
  return false;
}

// stdout's buffered report reaches the file only now: a failed write must fail the command.
int finish_output(int status) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "heed: error: cannot write to stdout: %s\n", std::strerror(errno));
    return status == 0 ? 1 : status;
  }
  // stderr is unbuffered: a failed write (progress, a notice, the error itself) set its error
  // flag. Nothing can be said about it there, but the status says the command did not run clean.
  if (std::ferror(stderr)) return status == 0 ? 1 : status;
  return status;
}
}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_waits(argv);
  CLI::App app{"heed: train, run and inspect self-attention models on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("heed ") + heed::version());
  app.option_defaults()->always_capture_default();  // --help shows every option's default
  heed::cli::register_info(app);
  heed::cli::register_train(app);
  heed::cli::register_eval(app);
  heed::cli::register_predict(app);
  heed::cli::register_recommend(app);
  heed::cli::register_generate(app);
  heed::cli::register_translate(app);
  heed::cli::register_explain(app);
  heed::cli::register_plot(app);
  heed::cli::register_bench(app);
  heed::cli::register_tokenizer(app);
  heed::cli::register_quantize(app);
  heed::cli::register_prune(app);
  if (!check_command_name(app, argc, argv)) return 2;
  int status = 0;
  try {
    heed::kernels::simd::limit_targets_from_env();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    status = app.exit(e);
  } catch (const heed::cli::ExitStatus& e) {
    status = e.code;
  } catch (const heed::Error& e) {
    std::fprintf(stderr, "heed: error: %s\n", e.what());
    status = 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "heed: error: out of memory (the model, batch or data is larger than this machine "
                 "can hold; lower the batch size or the model's dimensions)\n");
    status = 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heed: unexpected error: %s\n", e.what());
    status = 1;
  }
  return finish_output(status);
}
