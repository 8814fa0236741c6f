// Each subcommand lives in its own file and registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace heed::cli {

void register_info(CLI::App& app);
void register_bench(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_predict(CLI::App& app);
void register_tokenizer(CLI::App& app);
void register_bench_vit(CLI::App& bench);  // under `heed bench`
void register_bench_attention(CLI::App& bench);  // under `heed bench`
void register_bench_text(CLI::App& bench);  // under `heed bench`

}  // namespace heed::cli
