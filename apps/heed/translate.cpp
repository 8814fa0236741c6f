// heed translate / heed summarize: a seq2seq checkpoint turns each stdin line into a stdout line
// (streamed, in order; empty lines stay empty).
#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "heed/tasks/seq2seq.h"

namespace heed::cli {

void register_translate(CLI::App& app) {
  static tasks::TranslateCommand c;
  static std::string checkpoint, dtype;
  for (const char* name : {"translate", "summarize"}) {
    auto* cmd = app.add_subcommand(name, std::string(name == std::string("translate")
                                                         ? "Translate stdin to stdout, line by line, with a seq2seq checkpoint"
                                                         : "Summarise stdin to stdout, line by line (alias of translate)"));
    cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors) of a seq2seq run")->required();
    cmd->add_option("--beam", c.beam, "beam size (1: greedy)")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
    cmd->add_option("--length-penalty", c.length_penalty, "beam scores are log P / length^this");
    cmd->add_option("--batch-size", c.batch_size, "sentences decoded together (fewer when no more input is ready)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
    cmd->add_option("--max-tokens", c.max_tokens, "output pieces at most (0: the config's data.max_target_tokens)")
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
    add_dtype_option(cmd, dtype);
    cmd->callback([] {
      c.checkpoint = read_checkpoint_as(checkpoint, dtype);
      tasks::translate(c, STDIN_FILENO, stdout);
    });
  }
}

}  // namespace heed::cli
