// Autoregressive generation with a causal language model: greedy decoding or seeded sampling
// (temperature, top-k, top-p), with the KV cache (every step feeds one new token) or without it
// (every step runs the whole sequence again: the reference the cache must match token for token).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "heed/nn/models/text_encoder.h"

namespace heed::nn {

struct SamplingOptions {
  double temperature = 0;  // 0: greedy (the most likely token); > 0: sample from softmax(logits / T)
  int64_t top_k = 0;       // > 0: sample among the k most likely tokens only
  double top_p = 1;        // < 1: among the smallest set whose probability reaches top_p (nucleus)
  uint64_t seed = 0;

  // Throws naming the first impossible option (--temperature, --top-k, --top-p).
  void validate() const;
};

// The token chosen from `logits` [vocab] at decoding step `step`: the arg max for greedy (the
// lowest id among ties), else a draw from random_uniform(seed, step) over the kept tokens.
int64_t choose_token(const float* logits, int64_t vocab, const SamplingOptions& options, uint64_t step);

struct GenerateOptions {
  int64_t max_tokens = 64;   // new tokens at most
  int64_t eos = -1;          // stop after generating this token (>= 0)
  bool use_cache = true;
  int64_t max_memory = 0;    // > 0: refuse, before allocating, a KV cache larger than this (bytes)
  SamplingOptions sampling;
};

// The tokens generated after `prompt` (eos included when it stopped there), one sequence.
// `on_token` sees each as it is chosen (streaming). Stops at max_tokens, eos, or the model's
// max_len. Throws before any work when the prompt is empty or as long as max_len, or the
// cache would exceed max_memory.
std::vector<int64_t> generate(CausalLanguageModel& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options,
                              const std::function<void(int64_t)>& on_token = nullptr);

struct BeamOptions {
  int64_t beam = 4;
  int64_t max_tokens = 64;
  int64_t eos = -1;             // a hypothesis ends when it generates this token (>= 0)
  double length_penalty = 1.0;  // finished scores are log P / length^length_penalty (0: none)
  bool use_cache = true;
  int64_t max_memory = 0;       // > 0: refuse a KV cache (beam rows) larger than this (bytes)
};

struct BeamHypothesis {
  std::vector<int64_t> tokens;  // generated after the prompt, eos included when it ended there
  double log_probability = 0;   // summed over the tokens
  double score = 0;             // log_probability / length^length_penalty
};

// Beam search over one prompt: `beam` hypotheses kept a step (the cache holds one row per beam
// and follows each step's choice of parents); a hypothesis that generates eos is finished; the
// search stops when `beam` hypotheses are finished (early stop), at max_tokens, or at the
// context's end, where the live ones count as finished. Returns every finished hypothesis, best
// score first. Ties between candidates go to the lower beam, then the lower token id.
std::vector<BeamHypothesis> beam_search(CausalLanguageModel& model, const std::vector<int64_t>& prompt,
                                        const BeamOptions& options);

}  // namespace heed::nn
