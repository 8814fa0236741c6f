// Each subcommand lives in its own file and registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace heed::cli {

void register_info(CLI::App& app);
void register_bench(CLI::App& app);
void register_bench_attention(CLI::App& bench);  // under `heed bench`

}  // namespace heed::cli
