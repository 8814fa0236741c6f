// heed plot: training curves of one or more runs (their metrics.jsonl), overlaid in a PNG.
#include <cstdio>

#include "commands.h"
#include "heed/interpret/curves.h"

namespace heed::cli {

void register_plot(CLI::App& app) {
  static std::vector<std::string> runs;
  static std::string out = "curves.png";
  auto* cmd = app.add_subcommand("plot", "Draw training curves (loss, validation loss and metric) of runs");
  cmd->add_option("runs", runs, "run directories (each with a metrics.jsonl)")->required();
  cmd->add_option("--out", out, "PNG to write");
  cmd->callback([] {
    HEED_CHECK(!out.empty(), "plot: --out is empty");
    std::vector<interpret::RunCurves> curves;
    for (const std::string& r : runs) curves.push_back(interpret::read_run_curves(r));
    interpret::draw_curves(out, curves);
    std::printf("%s: %zu run(s)\n", out.c_str(), curves.size());
  });
}

}  // namespace heed::cli
