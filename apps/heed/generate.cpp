// heed generate: a causal-LM checkpoint continues a prompt, tokens streamed as they come.
#include "commands.h"
#include "heed/tasks/causal_lm.h"

namespace heed::cli {

void register_generate(CLI::App& app) {
  static tasks::GenerateCommand c;
  static std::string checkpoint, dtype;
  static bool no_cache = false;
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a causal language model (greedy or sampled)");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors) of a causal-lm run")->required();
  cmd->add_option("--prompt", c.prompt, "the text to continue")->required();
  cmd->add_option("--max-tokens", c.options.max_tokens, "new tokens at most")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  cmd->add_option("--temperature", c.options.sampling.temperature, "0: greedy; > 0: sample from softmax(logits / T)");
  cmd->add_option("--top-k", c.options.sampling.top_k, "sample among the k most likely tokens (0: all)");
  cmd->add_option("--top-p", c.options.sampling.top_p, "sample within the nucleus of this probability (1: all)");
  cmd->add_option("--seed", c.options.sampling.seed, "sampling seed (the same seed, the same text)");
  cmd->add_option("--beam", c.beam, "beam search with this many beams (1: greedy or sampled)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--length-penalty", c.length_penalty, "beam scores are log P / length^this");
  cmd->add_option("--max-memory", c.options.max_memory,
                  "refuse a KV cache larger than this many bytes, before allocating it (0: no limit)");
  cmd->add_flag("--no-cache", no_cache, "recompute the whole sequence every step (the KV cache's reference)");
  cmd->add_flag("--json", c.json, "print one JSON object at the end instead of streaming text");
  add_dtype_option(cmd, dtype);
  cmd->callback([] {
    c.options.use_cache = !no_cache;
    c.checkpoint = read_checkpoint_as(checkpoint, dtype);
    tasks::generate(c);
  });
}

}  // namespace heed::cli
