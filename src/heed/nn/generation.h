// Autoregressive generation with a causal language model: greedy decoding or seeded sampling
// (temperature, top-k, top-p), with the KV cache (every step feeds one new token) or without it
// (every step runs the whole sequence again: the reference the cache must match token for token).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "heed/nn/models/seq2seq.h"
#include "heed/nn/models/text_encoder.h"

namespace heed::nn {

// What generation needs of a model, for `rows` sequences of one length: a step that feeds new
// tokens after the cached ones, the reordering of the cache rows when beams change parents (or
// sentences of a batch finish), and the uncached reference that reruns whole sequences.
class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual int64_t vocab() const = 0;
  virtual int64_t max_len() const = 0;             // positions a sequence may fill
  virtual int64_t parameters() const = 0;          // multiply-adds per token, roughly (thread choice)
  virtual int64_t cache_bytes(int64_t rows, int64_t capacity) const = 0;
  // An empty cache of `rows` rows, a multiple of the prompts' (sources') count: row r continues
  // prompt r / (rows / prompts).
  virtual void start(int64_t rows, int64_t capacity) = 0;
  virtual int64_t cached() const = 0;                       // positions the cache holds
  virtual Tensor step(const Tensor& tokens) = 0;            // [rows, Tn] -> last logits [rows, V]
  // Row i becomes row parents[i]; the cache then holds parents.size() rows (fewer when some
  // sentences of the batch are finished: their rows are dropped, not stepped any more).
  virtual void reorder(const std::vector<int64_t>& parents) = 0;
  // Whole sequences -> the logits of their last positions [rows, V]; sequence i continues prompt
  // (source) prompt_of[i].
  virtual Tensor uncached(const std::vector<std::vector<int64_t>>& sequences,
                          const std::vector<int64_t>& prompt_of) = 0;
};

// A decoder-only LM continuing its prompt.
class CausalLmDecoder : public Decoder {
 public:
  explicit CausalLmDecoder(CausalLanguageModel& model) : model_(model) {}
  int64_t vocab() const override { return model_.config.vocab_size; }
  int64_t max_len() const override { return model_.config.max_len; }
  int64_t parameters() const override { return model_.config.parameter_count(false); }
  int64_t cache_bytes(int64_t rows, int64_t capacity) const override;
  void start(int64_t rows, int64_t capacity) override;
  int64_t cached() const override { return cache_ ? cache_->length : 0; }
  Tensor step(const Tensor& tokens) override { return model_.decode(tokens, *cache_); }
  void reorder(const std::vector<int64_t>& parents) override;
  Tensor uncached(const std::vector<std::vector<int64_t>>& sequences, const std::vector<int64_t>& prompt_of) override;

 private:
  CausalLanguageModel& model_;
  std::optional<KvCache> cache_;
};

// An encoder-decoder's target side for a batch of sources (i64 ids, padded together): the memory
// is encoded once per start, its keys and values projected once; each source has rows / sources
// consecutive rows (its beams).
class Seq2SeqDecoder : public Decoder {
 public:
  Seq2SeqDecoder(Seq2SeqTransformer& model, std::vector<std::vector<int64_t>> sources);
  int64_t vocab() const override { return model_.config.target_vocab; }
  int64_t max_len() const override { return model_.config.max_len; }
  int64_t parameters() const override;
  int64_t cache_bytes(int64_t rows, int64_t capacity) const override;
  void start(int64_t rows, int64_t capacity) override;
  int64_t cached() const override { return state_ ? state_->self.length : 0; }
  Tensor step(const Tensor& tokens) override { return model_.decode_step(tokens, *state_); }
  void reorder(const std::vector<int64_t>& parents) override;
  Tensor uncached(const std::vector<std::vector<int64_t>>& sequences, const std::vector<int64_t>& prompt_of) override;

 private:
  // The sources of these rows, padded: ids [rows, S], lengths [rows].
  std::pair<Tensor, Tensor> sources(const std::vector<int64_t>& source_of) const;
  int64_t longest_source() const;
  Seq2SeqTransformer& model_;
  std::vector<std::vector<int64_t>> sources_;
  std::vector<int64_t> source_of_row_;  // the cache's rows
  std::optional<Seq2SeqState> state_;
};

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
// cache would exceed max_memory. The model must be in eval mode.
std::vector<int64_t> generate(Decoder& decoder, const std::vector<int64_t>& prompt, const GenerateOptions& options,
                              const std::function<void(int64_t)>& on_token = nullptr);
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
// score first. Ties between candidates go to the lower beam, then the lower token id. Beam 1 is
// greedy decoding.
std::vector<BeamHypothesis> beam_search(Decoder& decoder, const std::vector<int64_t>& prompt,
                                        const BeamOptions& options);
// The same search for several prompts of one length at once (the sentences of a batch, as
// CTranslate2 and Marian decode them): one step feeds every unfinished prompt's beams, so the
// matrix products have rows * beam rows instead of beam; a prompt that stops drops its rows from
// the cache. Each prompt's result is the single search's, up to the rounding of larger products.
std::vector<std::vector<BeamHypothesis>> beam_search_batch(Decoder& decoder,
                                                           const std::vector<std::vector<int64_t>>& prompts,
                                                     const BeamOptions& options);
std::vector<BeamHypothesis> beam_search(CausalLanguageModel& model, const std::vector<int64_t>& prompt,
                                        const BeamOptions& options);

}  // namespace heed::nn
