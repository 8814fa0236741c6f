// Each subcommand lives in its own file and registers itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "heed/train/checkpoint.h"

namespace heed::cli {

// Thrown by a command that ends with a non-zero status without an error message of its own
// (a training run stopped by SIGINT/SIGTERM: 130/143, after saying what it saved).
struct ExitStatus {
  int code;
};

// --dtype f32|bf16 (docs/compression.md): the precision a command runs the checkpoint's model in.
void add_dtype_option(CLI::App* cmd, std::string& dtype);
// The checkpoint read for a command that took --dtype (the value checked before the file is
// read); bf16 on a CPU without bf16 dot products says once, on stderr, that it runs emulated.
train::Checkpoint read_checkpoint_as(const std::string& path, const std::string& dtype);

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
