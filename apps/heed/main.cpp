// heed: command-line entry point. Errors from the library (heed::Error) are printed as one line
// and exit with status 1; usage errors exit through CLI11's own codes.
#include <cstdio>
#include <exception>

#include "commands.h"
#include "heed/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"heed: train, run and inspect self-attention models on the CPU"};
  app.require_subcommand(1);
  heed::cli::register_info(app);
  heed::cli::register_train(app);
  heed::cli::register_eval(app);
  heed::cli::register_predict(app);
  heed::cli::register_bench(app);
  try {
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
