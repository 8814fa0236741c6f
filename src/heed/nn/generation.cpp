#include "heed/nn/generation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/ops/ops.h"

namespace heed::nn {

void SamplingOptions::validate() const {
  HEED_CHECK(std::isfinite(temperature) && temperature >= 0, "--temperature must be >= 0 (0: greedy), got ",
             temperature);
  HEED_CHECK(top_k >= 0, "--top-k must be >= 0 (0: every token), got ", top_k);
  HEED_CHECK(top_p > 0 && top_p <= 1, "--top-p must be in (0, 1], got ", top_p);
}

int64_t choose_token(const float* logits, int64_t vocab, const SamplingOptions& o, uint64_t step) {
  HEED_CHECK(vocab > 0, "choose_token: an empty vocabulary");
  if (o.temperature == 0) return std::max_element(logits, logits + vocab) - logits;
  // Candidates by falling logit (ties by id), cut to top_k; probabilities with the max
  // subtracted, then cut to the nucleus.
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = o.top_k > 0 ? std::min(o.top_k, vocab) : vocab;
  auto by_logit = [&](int64_t a, int64_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), by_logit);
  order.resize(size_t(k));
  std::vector<double> p(order.size());
  const double top = double(logits[order[0]]);
  double total = 0;
  for (size_t i = 0; i < order.size(); ++i) total += p[i] = std::exp((double(logits[order[i]]) - top) / o.temperature);
  size_t kept = order.size();
  if (o.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < order.size(); ++i)
      if ((mass += p[i] / total) >= o.top_p) {
        kept = i + 1;
        break;
      }
  }
  double kept_total = 0;
  for (size_t i = 0; i < kept; ++i) kept_total += p[i];
  double u = double(random_uniform(o.seed, step)) * kept_total;
  for (size_t i = 0; i < kept; ++i)
    if ((u -= p[i]) < 0) return order[i];
  return order[kept - 1];
}

// ---------------------------------------------------------------- the two decoders

int64_t CausalLmDecoder::cache_bytes(int64_t rows, int64_t capacity) const {
  return kv_cache_bytes(rows, capacity, model_.config.dim, model_.config.depth);
}

void CausalLmDecoder::start(int64_t rows, int64_t capacity) { cache_.emplace(model_.new_cache(rows, capacity)); }

namespace {
// Row i of every layer's cache becomes row parents[i] (the beams that survived a step). Only the
// filled positions are copied, through a scratch of just those (cloning the whole buffer, which
// is preallocated for the maximum length, held beam 4 at 512 tokens to 292 tokens/s against 422
// measured without it); nothing is copied when every beam kept its own parent.
void reorder_rows(std::vector<Tensor>& layers, int64_t length, const std::vector<int64_t>& parents) {
  bool identity = true;
  for (size_t i = 0; i < parents.size(); ++i) identity = identity && parents[i] == int64_t(i);
  if (identity) return;
  std::vector<float> scratch;
  for (Tensor& layer : layers) {
    const int64_t row = layer.size(1) * layer.size(2), used = length * layer.size(2);
    scratch.resize(parents.size() * size_t(used));
    for (size_t i = 0; i < parents.size(); ++i)
      std::copy(layer.f32() + parents[i] * row, layer.f32() + parents[i] * row + used, scratch.data() + i * size_t(used));
    for (size_t i = 0; i < parents.size(); ++i)
      if (parents[i] != int64_t(i))
        std::copy(scratch.data() + i * size_t(used), scratch.data() + (i + 1) * size_t(used),
                  layer.f32() + int64_t(i) * row);
  }
}

Tensor ids_tensor(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from_indices({int64_t(rows.size()), int64_t(rows[0].size())}, flat);
}

Tensor same_lengths(int64_t rows, int64_t length) {
  return Tensor::from_indices({rows}, std::vector<int64_t>(size_t(rows), length));
}
}  // namespace

void CausalLmDecoder::reorder(const std::vector<int64_t>& parents) {
  reorder_rows(cache_->layers, cache_->length, parents);
}

Tensor CausalLmDecoder::uncached(const std::vector<std::vector<int64_t>>& sequences) {
  Batch batch;
  batch.tensors = {{"tokens", ids_tensor(sequences)},
                   {"lengths", same_lengths(int64_t(sequences.size()), int64_t(sequences[0].size()))}};
  return model_.forward(batch).logits.value();
}

int64_t Seq2SeqDecoder::parameters() const {
  const Seq2SeqConfig& c = model_.config;
  return encoder_parameters(c.dim, c.decoder_depth, c.mlp_hidden) * 3 / 2 + c.target_vocab * c.dim;
}

int64_t Seq2SeqDecoder::cache_bytes(int64_t rows, int64_t capacity) const {
  const Seq2SeqConfig& c = model_.config;  // self-attention cache + the memory's keys and values
  return kv_cache_bytes(rows, capacity, c.dim, c.decoder_depth) +
         kv_cache_bytes(rows, int64_t(source_.size()), c.dim, c.decoder_depth);
}

std::pair<Tensor, Tensor> Seq2SeqDecoder::sources(int64_t rows) const {
  return {ids_tensor(std::vector<std::vector<int64_t>>(size_t(rows), source_)),
          same_lengths(rows, int64_t(source_.size()))};
}

void Seq2SeqDecoder::start(int64_t rows, int64_t capacity) {
  auto [ids, lengths] = sources(rows);
  state_.emplace(model_.start(ids, lengths, capacity));
}

void Seq2SeqDecoder::reorder(const std::vector<int64_t>& parents) {
  // Every row holds the same source: only the self-attention cache differs between beams.
  reorder_rows(state_->self.layers, state_->self.length, parents);
}

Tensor Seq2SeqDecoder::uncached(const std::vector<std::vector<int64_t>>& sequences) {
  const int64_t rows = int64_t(sequences.size()), t = int64_t(sequences[0].size());
  auto [ids, lengths] = sources(rows);
  const Var memory = model_.encode(ids, lengths);
  const Var h = model_.decode_all(memory, lengths, ids_tensor(sequences), same_lengths(rows, t));
  return model_.logits(embedding(last_positions(same_lengths(rows, t), t), reshape(h, {rows * t, model_.config.dim})))
      .value();
}

// ---------------------------------------------------------------- generation

namespace {
// Throws before any work for a prompt that leaves no room, or a cache over the memory limit;
// returns the cache capacity the request needs.
int64_t check_request(const Decoder& decoder, int64_t prompt, int64_t max_tokens, int64_t rows, bool use_cache,
                      int64_t max_memory) {
  const int64_t max_len = decoder.max_len();
  HEED_CHECK(prompt > 0, "generate: an empty prompt");
  HEED_CHECK(prompt < max_len, "generate: the prompt has ", prompt, " tokens; the model's context (model.max_len) is ",
             max_len, ", which leaves no room to generate");
  HEED_CHECK(max_tokens >= 0, "generate: max_tokens must be >= 0, got ", max_tokens);
  const int64_t capacity = std::min(max_len, prompt + max_tokens);
  const int64_t bytes = decoder.cache_bytes(rows, capacity);
  HEED_CHECK(!use_cache || max_memory <= 0 || bytes <= max_memory, "generate: the KV cache for ", capacity,
             " positions", rows > 1 ? " x " + std::to_string(rows) + " beams" : std::string(), " needs ", bytes,
             " bytes (", decoder.cache_bytes(1, 1), " per token), more than --max-memory ", max_memory);
  return capacity;
}

// Threads for a step feeding `tokens` positions: one below about 2e7 multiply-adds (measured on
// lm-ddtp's 1.9M-parameter model: a one-token step ran 5x faster on one thread than on two,
// whose wake-ups cost more than the step's arithmetic).
int step_threads(const Decoder& decoder, int64_t tokens) {
  return double(tokens) * double(decoder.parameters()) < 2e7 ? 1 : num_threads();
}
}  // namespace

std::vector<int64_t> generate(Decoder& decoder, const std::vector<int64_t>& prompt, const GenerateOptions& o,
                              const std::function<void(int64_t)>& on_token) {
  o.sampling.validate();
  const int64_t capacity = check_request(decoder, int64_t(prompt.size()), o.max_tokens, 1, o.use_cache, o.max_memory);
  NoGradGuard no_grad;
  std::vector<int64_t> sequence = prompt, out;
  if (o.use_cache) decoder.start(1, capacity);
  for (int64_t step = 0; step < o.max_tokens && int64_t(sequence.size()) <= capacity; ++step) {
    const int64_t fed = int64_t(sequence.size()) - (o.use_cache ? decoder.cached() : 0);
    const ThreadLimit threads(step_threads(decoder, fed));
    // With the cache: the prompt at once, then one token a step.
    const Tensor logits =
        o.use_cache ? decoder.step(Tensor::from_indices({1, fed}, std::vector<int64_t>(sequence.end() - fed, sequence.end())))
                    : decoder.uncached({sequence});
    const int64_t token = choose_token(logits.f32(), logits.size(1), o.sampling, uint64_t(step));
    out.push_back(token);
    sequence.push_back(token);
    if (on_token) on_token(token);
    if (token == o.eos) break;
  }
  return out;
}

std::vector<int64_t> generate(CausalLanguageModel& model, const std::vector<int64_t>& prompt, const GenerateOptions& o,
                              const std::function<void(int64_t)>& on_token) {
  model.eval();
  CausalLmDecoder decoder(model);
  return generate(decoder, prompt, o, on_token);
}

namespace {
double normalised(double log_probability, int64_t length, double penalty) {
  return penalty == 0 ? log_probability : log_probability / std::pow(double(std::max<int64_t>(length, 1)), penalty);
}
}  // namespace

std::vector<BeamHypothesis> beam_search(Decoder& decoder, const std::vector<int64_t>& prompt, const BeamOptions& o) {
  const int64_t vocab = decoder.vocab();
  HEED_CHECK(o.beam >= 1, "--beam must be >= 1, got ", o.beam);
  HEED_CHECK(o.beam <= vocab, "--beam ", o.beam, " is larger than the vocabulary (", vocab, " pieces)");
  HEED_CHECK(std::isfinite(o.length_penalty), "--length-penalty must be finite, got ", o.length_penalty);
  const int64_t capacity = check_request(decoder, int64_t(prompt.size()), o.max_tokens, o.beam, o.use_cache, o.max_memory);
  NoGradGuard no_grad;
  struct Live {
    std::vector<int64_t> sequence;  // prompt + generated
    double log_probability = 0;
  };
  std::vector<Live> live = {{prompt, 0}};
  std::vector<BeamHypothesis> finished;
  if (o.use_cache) decoder.start(o.beam, capacity);
  const int64_t n = int64_t(prompt.size());
  for (int64_t step = 0; step < o.max_tokens && int64_t(live[0].sequence.size()) <= capacity; ++step) {
    Tensor logits;  // [live rows, V]
    const int64_t fed = !o.use_cache ? int64_t(live.size() * live[0].sequence.size()) : step == 0 ? o.beam * n : o.beam;
    const ThreadLimit threads(step_threads(decoder, fed));
    if (o.use_cache) {
      std::vector<std::vector<int64_t>> rows;
      if (step == 0) {  // the prompt in every row (beams start equal), then one token a step
        rows.assign(size_t(o.beam), prompt);
      } else {
        for (const Live& l : live) rows.push_back({l.sequence.back()});
        rows.resize(size_t(o.beam), rows.back());  // rows no beam uses still take a step
      }
      logits = decoder.step(ids_tensor(rows));
    } else {
      std::vector<std::vector<int64_t>> sequences;
      for (const Live& l : live) sequences.push_back(l.sequence);
      logits = decoder.uncached(sequences);
    }
    // Every (beam, token) continuation by its summed log-probability.
    struct Candidate {
      double log_probability;
      int64_t beam, token;
    };
    std::vector<Candidate> candidates;
    candidates.reserve(live.size() * size_t(vocab));
    for (size_t b = 0; b < live.size(); ++b) {
      const float* row = logits.f32() + int64_t(b) * vocab;
      const float top = *std::max_element(row, row + vocab);
      double total = 0;
      for (int64_t v = 0; v < vocab; ++v) total += std::exp(double(row[v]) - double(top));
      const double log_total = double(top) + std::log(total);
      for (int64_t v = 0; v < vocab; ++v)
        candidates.push_back({live[b].log_probability + double(row[v]) - log_total, int64_t(b), v});
    }
    const size_t keep = std::min(candidates.size(), size_t(2 * o.beam));
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [](const Candidate& a, const Candidate& b) {
                        if (a.log_probability != b.log_probability) return a.log_probability > b.log_probability;
                        return a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
                      });
    std::vector<Live> next;
    std::vector<int64_t> parents;
    for (size_t c = 0; c < keep && int64_t(next.size()) < o.beam; ++c) {
      const Candidate& k = candidates[c];
      std::vector<int64_t> sequence = live[size_t(k.beam)].sequence;
      sequence.push_back(k.token);
      if (k.token == o.eos) {
        const int64_t length = int64_t(sequence.size()) - n;
        finished.push_back({std::vector<int64_t>(sequence.begin() + n, sequence.end()), k.log_probability,
                            normalised(k.log_probability, length, o.length_penalty)});
        continue;
      }
      next.push_back({std::move(sequence), k.log_probability});
      parents.push_back(k.beam);
    }
    if (int64_t(finished.size()) >= o.beam || next.empty()) {
      live.clear();
      break;
    }
    if (o.use_cache) {
      parents.resize(size_t(o.beam), parents.back());
      decoder.reorder(parents);
    }
    live = std::move(next);
  }
  for (const Live& l : live) {
    const int64_t length = int64_t(l.sequence.size()) - n;
    finished.push_back({std::vector<int64_t>(l.sequence.begin() + n, l.sequence.end()), l.log_probability,
                        normalised(l.log_probability, length, o.length_penalty)});
  }
  std::stable_sort(finished.begin(), finished.end(),
                   [](const BeamHypothesis& a, const BeamHypothesis& b) { return a.score > b.score; });
  return finished;
}

std::vector<BeamHypothesis> beam_search(CausalLanguageModel& model, const std::vector<int64_t>& prompt,
                                        const BeamOptions& o) {
  model.eval();
  CausalLmDecoder decoder(model);
  return beam_search(decoder, prompt, o);
}

}  // namespace heed::nn
