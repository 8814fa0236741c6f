// Each subcommand lives in its own file and registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace heed::cli {

// Thrown by a command that ends with a non-zero status without an error message of its own
// (a training run stopped by SIGINT/SIGTERM: 130/143, after saying what it saved).
struct ExitStatus {
  int code;
};

void register_info(CLI::App& app);
void register_bench(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_predict(CLI::App& app);
void register_recommend(CLI::App& app);
void register_generate(CLI::App& app);
void register_translate(CLI::App& app);
void register_explain(CLI::App& app);
void register_plot(CLI::App& app);
void register_tokenizer(CLI::App& app);
void register_quantize(CLI::App& app);
void register_prune(CLI::App& app);
void register_bench_vit(CLI::App& bench);  // under `heed bench`
void register_bench_attention(CLI::App& bench);  // under `heed bench`
void register_bench_text(CLI::App& bench);  // under `heed bench`
void register_bench_sasrec(CLI::App& bench);  // under `heed bench`
void register_bench_generate(CLI::App& bench);  // under `heed bench`

}  // namespace heed::cli
