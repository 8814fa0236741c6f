// heed bench generate: greedy decoding tokens/s of a causal-LM config's model shape, with and
// without the KV cache, at several output lengths. The weights are seeded random ones (the speed
// of a step does not depend on them) and no token ends a sequence, so every run generates
// exactly its length; the model's positions are widened to prompt + the longest length.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/io/safetensors.h"
#include "heed/nn/generation.h"
#include "heed/tasks/causal_lm.h"
#include "heed/train/config_json.h"

namespace heed::cli {

namespace {
using nlohmann::json;

struct GenerateBenchArgs {
  std::string config, save_model;
  std::vector<int64_t> lengths = {32, 128, 512};
  int64_t prompt = 16, reps = 3, vocab_size = 0, beam = 4;
  int threads = 0;
  bool json = false;
};

// The median seconds of `reps` runs of `fn`.
template <class F>
double median_seconds(int64_t reps, F&& fn) {
  std::vector<double> times;
  for (int64_t i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void run(const GenerateBenchArgs& a) {
  const tasks::CausalLmConfig config = tasks::parse_causal_lm_config(train::read_json_file(a.config));
  if (a.threads > 0) set_num_threads(a.threads);
  nn::TextEncoderConfig m = config.model;
  m.vocab_size = a.vocab_size > 0 ? a.vocab_size : config.data.input.vocab_size;
  m.max_len = std::max(m.max_len, a.prompt + *std::max_element(a.lengths.begin(), a.lengths.end()));
  m.dropout = 0;
  nn::CausalLanguageModel model(m, 1);
  model.eval();
  if (!a.save_model.empty())  // for bench/compare_pytorch.py generate: the same weights in PyTorch
    io::write_safetensors(a.save_model, model.state_dict(),
                          {{"model", train::section_json(m, false).dump()}});
  std::vector<int64_t> prompt(size_t(a.prompt));
  for (int64_t i = 0; i < a.prompt; ++i) prompt[size_t(i)] = 5 + (i * 7919) % (m.vocab_size - 5);
  json rows = json::array();
  if (!a.json)
    std::printf("causal LM %s: %ld parameters (dim %ld, depth %ld, vocab %ld), prompt %ld tokens, %d threads; "
                "KV cache %ld bytes per token\n",
                a.config.c_str(), long(model.parameter_count()), long(m.dim), long(m.depth), long(m.vocab_size),
                long(a.prompt), num_threads(), long(nn::kv_cache_bytes(1, 1, m.attention_widths())));
  for (int64_t length : a.lengths) {
    nn::GenerateOptions o;
    o.max_tokens = length;
    std::vector<int64_t> cached_tokens, uncached_tokens;
    nn::generate(model, prompt, o);  // warm-up
    const double cached = median_seconds(a.reps, [&] { cached_tokens = nn::generate(model, prompt, o); });
    o.use_cache = false;
    // Uncached costs grow with the square of the length: one run beyond 128 tokens.
    const double uncached =
        median_seconds(length > 128 ? 1 : a.reps, [&] { uncached_tokens = nn::generate(model, prompt, o); });
    HEED_CHECK(cached_tokens == uncached_tokens, "bench generate: cached and uncached decoding differ at length ",
               length);
    const double cached_rate = double(length) / cached, uncached_rate = double(length) / uncached;
    rows.push_back({{"tokens", length},
                    {"cached_tokens_per_s", cached_rate},
                    {"uncached_tokens_per_s", uncached_rate},
                    {"speedup", cached_rate / uncached_rate},
                    {"greedy_tokens", cached_tokens},
                    {"kv_cache_bytes", nn::kv_cache_bytes(1, a.prompt + length, m.attention_widths())}});
    if (!a.json)
      std::printf("  %4ld tokens: cached %8.1f tokens/s, uncached %8.1f tokens/s: %.1fx (identical tokens)\n",
                  long(length), cached_rate, uncached_rate, cached_rate / uncached_rate);
    if (a.beam > 1) {  // beam search: output tokens/s of the best hypothesis (every beam runs each step)
      nn::BeamOptions b;
      b.beam = a.beam;
      b.max_tokens = length;
      std::vector<int64_t> cached_beam, uncached_beam;
      const double beam_cached =
          median_seconds(a.reps, [&] { cached_beam = nn::beam_search(model, prompt, b).front().tokens; });
      double beam_uncached = 0;
      if (length <= 128) {  // uncached beams cost beam x the greedy uncached run: skipped beyond 128 tokens
        b.use_cache = false;
        beam_uncached = median_seconds(1, [&] { uncached_beam = nn::beam_search(model, prompt, b).front().tokens; });
        HEED_CHECK(cached_beam == uncached_beam, "bench generate: cached and uncached beam search differ at length ",
                   length);
      }
      json& row = rows.back();
      row["beam"] = a.beam;
      row["beam_cached_tokens_per_s"] = double(length) / beam_cached;
      row["beam_tokens"] = cached_beam;
      if (beam_uncached > 0) {
        row["beam_uncached_tokens_per_s"] = double(length) / beam_uncached;
        row["beam_speedup"] = beam_uncached / beam_cached;
      }
      if (!a.json && beam_uncached > 0)
        std::printf("        beam %ld: cached %8.1f tokens/s, uncached %8.1f tokens/s: %.1fx (identical tokens)\n",
                    long(a.beam), double(length) / beam_cached, double(length) / beam_uncached,
                    beam_uncached / beam_cached);
      else if (!a.json)
        std::printf("        beam %ld: cached %8.1f tokens/s (uncached not run beyond 128 tokens)\n", long(a.beam),
                    double(length) / beam_cached);
    }
  }
  if (a.json)
    std::printf("%s\n", json{{"config", a.config},
                             {"prompt", prompt},
                             {"parameters", model.parameter_count()},
                             {"threads", num_threads()},
                             {"prompt_tokens", a.prompt},
                             {"kv_cache_bytes_per_token", nn::kv_cache_bytes(1, 1, m.attention_widths())},
                             {"greedy", rows}}
                            .dump()
                            .c_str());
}
}  // namespace

void register_bench_generate(CLI::App& bench) {
  static GenerateBenchArgs a;
  auto* cmd = bench.add_subcommand("generate", "Greedy decoding tokens/s of a causal-LM config, with and without the KV cache");
  cmd->add_option("--config", a.config, "JSON config of a causal-lm run (its model shape and data.vocab_size)")
      ->required();
  cmd->add_option("--lengths", a.lengths, "output lengths to time")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--prompt-tokens", a.prompt, "prompt length")->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--beam", a.beam, "also time beam search with this many beams (1: greedy only)")
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--reps", a.reps, "runs per measurement (the median is reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--vocab-size", a.vocab_size, "vocabulary (default: the config's data.vocab_size)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 22));
  cmd->add_option("--threads", a.threads, "threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 4096));
  cmd->add_option("--save-model", a.save_model, "write the timed model's weights (safetensors) for a PyTorch side");
  cmd->add_flag("--json", a.json, "print JSON (with each length's greedy tokens)");
  cmd->callback([] { run(a); });
}

}  // namespace heed::cli
