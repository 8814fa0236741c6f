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
  return kv_cache_bytes(rows, capacity, model_.config.attention_widths());
}

void CausalLmDecoder::start(int64_t rows, int64_t capacity) { cache_.emplace(model_.new_cache(rows, capacity)); }

namespace {
// Row i of every [rows, positions, width] tensor becomes row parents[i] (the beams that survived
// a step). Only the first `length` positions are copied, through a scratch of just those
// (cloning the whole buffer, which is preallocated for the maximum length, held beam 4 at 512
// tokens to 292 tokens/s against 422 measured without it); nothing is copied when every beam kept
// its own parent. With fewer parents than rows, each tensor becomes a view of its first
// parents.size() rows: finished sentences leave without a reallocation.
void reorder_rows(std::vector<Tensor>& layers, int64_t length, const std::vector<int64_t>& parents) {
  if (layers.empty()) return;
  HEED_CHECK(!parents.empty() && int64_t(parents.size()) <= layers[0].size(0), "generate: ", parents.size(),
             " parents for a cache of ", layers[0].size(0), " rows");
  bool identity = true;
  for (size_t i = 0; i < parents.size(); ++i) identity = identity && parents[i] == int64_t(i);
  const int64_t kept = int64_t(parents.size());
  auto shrink = [&] {
    if (kept < layers[0].size(0))
      for (Tensor& layer : layers) layer = layer.slice(0, 0, kept);
  };
  if (identity) return shrink();
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
  shrink();
}

// Rows of ids, padded with 0 to the longest.
Tensor ids_tensor(const std::vector<std::vector<int64_t>>& rows) {
  size_t width = 1;
  for (const auto& r : rows) width = std::max(width, r.size());
  std::vector<int64_t> flat;
  for (const auto& r : rows) {
    flat.insert(flat.end(), r.begin(), r.end());
    flat.resize(flat.size() + width - r.size(), 0);
  }
  return Tensor::from_indices({int64_t(rows.size()), int64_t(width)}, flat);
}

Tensor same_lengths(int64_t rows, int64_t length) {
  return Tensor::from_indices({rows}, std::vector<int64_t>(size_t(rows), length));
}
}  // namespace

void CausalLmDecoder::reorder(const std::vector<int64_t>& parents) {
  reorder_rows(cache_->layers, cache_->length, parents);
}

Tensor CausalLmDecoder::uncached(const std::vector<std::vector<int64_t>>& sequences, const std::vector<int64_t>&) {
  Batch batch;
  batch.tensors = {{"tokens", ids_tensor(sequences)},
                   {"lengths", same_lengths(int64_t(sequences.size()), int64_t(sequences[0].size()))}};
  return model_.forward(batch).logits.value();
}

int64_t Seq2SeqDecoder::parameters() const {
  const Seq2SeqConfig& c = model_.config;
  return encoder_parameters(c.dim, c.decoder_depth, c.mlp_hidden) * 3 / 2 + c.target_vocab * c.dim;
}

Seq2SeqDecoder::Seq2SeqDecoder(Seq2SeqTransformer& model, std::vector<std::vector<int64_t>> sources)
    : model_(model), sources_(std::move(sources)) {
  HEED_CHECK(!sources_.empty(), "generate: no source to decode");
}

int64_t Seq2SeqDecoder::longest_source() const {
  size_t longest = 1;
  for (const auto& s : sources_) longest = std::max(longest, s.size());
  return int64_t(longest);
}

int64_t Seq2SeqDecoder::cache_bytes(int64_t rows, int64_t capacity) const {
  const Seq2SeqConfig& c = model_.config;  // self-attention cache + the memory's keys and values
  return kv_cache_bytes(rows, capacity, c.decoder_self_widths()) +
         kv_cache_bytes(rows, longest_source(), c.decoder_cross_widths());
}

std::pair<Tensor, Tensor> Seq2SeqDecoder::sources(const std::vector<int64_t>& source_of) const {
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> lengths;
  for (int64_t s : source_of) {
    rows.push_back(sources_[size_t(s)]);
    lengths.push_back(std::max<int64_t>(int64_t(rows.back().size()), 1));
  }
  return {ids_tensor(rows), Tensor::from_indices({int64_t(rows.size())}, lengths)};
}

void Seq2SeqDecoder::start(int64_t rows, int64_t capacity) {
  const int64_t n = int64_t(sources_.size());
  HEED_CHECK(rows % n == 0, "generate: ", rows, " rows for ", n, " sources");
  source_of_row_.resize(size_t(rows));
  for (int64_t r = 0; r < rows; ++r) source_of_row_[size_t(r)] = r / (rows / n);
  auto [ids, lengths] = sources(source_of_row_);
  state_.emplace(model_.start(ids, lengths, capacity));
}

void Seq2SeqDecoder::reorder(const std::vector<int64_t>& parents) {
  std::vector<int64_t> source_of(parents.size());
  for (size_t i = 0; i < parents.size(); ++i) source_of[i] = source_of_row_[size_t(parents[i])];
  reorder_rows(state_->self.layers, state_->self.length, parents);
  // Beams move within their source; only a finished sentence's leaving moves the memory rows.
  if (source_of == source_of_row_) return;
  reorder_rows(state_->memory_kv, state_->memory_kv.front().size(1), parents);
  std::vector<int64_t> lengths;
  for (int64_t p : parents) lengths.push_back(state_->source_lengths.i64()[p]);
  state_->source_lengths = Tensor::from_indices({int64_t(lengths.size())}, lengths);
  source_of_row_ = std::move(source_of);
}

Tensor Seq2SeqDecoder::uncached(const std::vector<std::vector<int64_t>>& sequences,
                                const std::vector<int64_t>& prompt_of) {
  const int64_t rows = int64_t(sequences.size()), t = int64_t(sequences[0].size());
  auto [ids, lengths] = sources(prompt_of);
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
  const std::string times_rows = rows > 1 ? " x " + std::to_string(rows) + " rows (sentences x beams)" : "";
  HEED_CHECK(!use_cache || max_memory <= 0 || bytes <= max_memory, "generate: the KV cache for ", capacity,
             " positions", times_rows, " needs ", bytes, " bytes (", decoder.cache_bytes(1, 1),
             " per token), more than --max-memory ", max_memory);
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
                    : decoder.uncached({sequence}, {0});
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
  return beam_search_batch(decoder, {prompt}, o).front();
}

std::vector<std::vector<BeamHypothesis>> beam_search_batch(Decoder& decoder,
                                                           const std::vector<std::vector<int64_t>>& prompts,
                                                     const BeamOptions& o) {
  const int64_t vocab = decoder.vocab();
  HEED_CHECK(o.beam >= 1, "--beam must be >= 1, got ", o.beam);
  HEED_CHECK(o.beam <= vocab, "--beam ", o.beam, " is larger than the vocabulary (", vocab, " pieces)");
  HEED_CHECK(std::isfinite(o.length_penalty), "--length-penalty must be finite, got ", o.length_penalty);
  HEED_CHECK(!prompts.empty(), "generate: no prompt");
  const int64_t n = int64_t(prompts[0].size());
  for (const auto& p : prompts)
    HEED_CHECK(int64_t(p.size()) == n, "generate: prompts of one batch must have one length, got ", n, " and ",
               p.size());
  const int64_t beam = o.beam, count = int64_t(prompts.size());
  const int64_t capacity = check_request(decoder, n, o.max_tokens, count * beam, o.use_cache, o.max_memory);
  NoGradGuard no_grad;
  struct Live {
    std::vector<int64_t> sequence;  // prompt + generated
    double log_probability = 0;
  };
  struct Search {  // an unfinished prompt; with the cache, active[a] owns rows [a * beam, (a + 1) * beam)
    int64_t prompt;
    std::vector<Live> live;
  };
  struct Candidate {
    double log_probability;
    int64_t beam, token;
  };
  std::vector<std::vector<BeamHypothesis>> finished(static_cast<size_t>(count));
  auto finish = [&](int64_t prompt, const Live& l, double log_probability) {
    const int64_t length = int64_t(l.sequence.size()) - n;
    finished[size_t(prompt)].push_back({std::vector<int64_t>(l.sequence.begin() + n, l.sequence.end()),
                                        log_probability, normalised(log_probability, length, o.length_penalty)});
  };
  std::vector<Search> active;
  for (int64_t p = 0; p < count; ++p) active.push_back({p, {{prompts[size_t(p)], 0}}});
  if (o.use_cache) decoder.start(count * beam, capacity);
  std::vector<Candidate> candidates;
  for (int64_t step = 0; step < o.max_tokens && int64_t(active[0].live[0].sequence.size()) <= capacity; ++step) {
    // Each live hypothesis's logits row: fixed slots with the cache, packed without it.
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> first_row, prompt_of;
    for (const Search& s : active) {
      first_row.push_back(int64_t(rows.size()));
      if (o.use_cache) {
        if (step == 0) {  // the prompt in every row (beams start equal), then one token a step
          rows.insert(rows.end(), size_t(beam), prompts[size_t(s.prompt)]);
        } else {
          for (const Live& l : s.live) rows.push_back({l.sequence.back()});
          rows.resize(size_t(first_row.back() + beam), rows.back());  // rows no beam uses still take a step
        }
      } else {
        for (const Live& l : s.live) {
          rows.push_back(l.sequence);
          prompt_of.push_back(s.prompt);
        }
      }
    }
    const int64_t fed = int64_t(rows.size() * rows[0].size());
    const ThreadLimit threads(step_threads(decoder, fed));
    const Tensor logits = o.use_cache ? decoder.step(ids_tensor(rows)) : decoder.uncached(rows, prompt_of);
    std::vector<Search> next_active;
    std::vector<int64_t> parents;
    for (size_t a = 0; a < active.size(); ++a) {
      const Search& s = active[a];
      // Every (beam, token) continuation by its summed log-probability.
      candidates.clear();
      for (size_t b = 0; b < s.live.size(); ++b) {
        const float* row = logits.f32() + (first_row[a] + int64_t(b)) * vocab;
        const float top = *std::max_element(row, row + vocab);
        double total = 0;
        for (int64_t v = 0; v < vocab; ++v) total += std::exp(double(row[v]) - double(top));
        const double log_total = double(top) + std::log(total);
        for (int64_t v = 0; v < vocab; ++v)
          candidates.push_back({s.live[b].log_probability + double(row[v]) - log_total, int64_t(b), v});
      }
      const size_t keep = std::min(candidates.size(), size_t(2 * beam));
      std::partial_sort(candidates.begin(), candidates.begin() + long(keep), candidates.end(),
                        [](const Candidate& x, const Candidate& y) {
                          if (x.log_probability != y.log_probability) return x.log_probability > y.log_probability;
                          return x.beam != y.beam ? x.beam < y.beam : x.token < y.token;
                        });
      Search next{s.prompt, {}};
      std::vector<int64_t> own_parents;
      for (size_t c = 0; c < keep && int64_t(next.live.size()) < beam; ++c) {
        const Candidate& k = candidates[c];
        Live l{s.live[size_t(k.beam)].sequence, k.log_probability};
        l.sequence.push_back(k.token);
        if (k.token == o.eos) {
          finish(s.prompt, l, k.log_probability);
          continue;
        }
        next.live.push_back(std::move(l));
        own_parents.push_back(first_row[a] + k.beam);
      }
      if (int64_t(finished[size_t(s.prompt)].size()) >= beam || next.live.empty()) continue;  // this prompt is done
      own_parents.resize(size_t(beam), own_parents.back());
      parents.insert(parents.end(), own_parents.begin(), own_parents.end());
      next_active.push_back(std::move(next));
    }
    active = std::move(next_active);
    if (active.empty()) break;
    if (o.use_cache) decoder.reorder(parents);
  }
  for (const Search& s : active)
    for (const Live& l : s.live) finish(s.prompt, l, l.log_probability);
  for (auto& f : finished)
    std::stable_sort(f.begin(), f.end(),
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
