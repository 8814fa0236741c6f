#include "heed/tasks/seq2seq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "heed/data/loader.h"
#include "heed/io/line_batches.h"
#include "heed/metrics/bleu.h"
#include "heed/metrics/chrf.h"
#include "heed/metrics/rouge.h"
#include "heed/nn/generation.h"
#include "heed/tasks/next_token.h"
#include "heed/train/resources.h"

namespace heed::tasks {

using nlohmann::json;

Seq2SeqTaskConfig parse_seq2seq_config(const json& j) {
  const Seq2SeqTaskConfig c = train::read_task_config<Seq2SeqTaskConfig>(j, kSeq2Seq);
  HEED_CHECK(c.data.input.text_fields.size() == 2, "data.text_fields must name two fields, the source's and the "
             "target's, got ", c.data.input.text_fields.size());
  HEED_CHECK(c.data.input.max_tokens <= c.model.max_len && c.data.max_target_tokens <= c.model.max_len,
             "data.max_tokens (", c.data.input.max_tokens, ") and data.max_target_tokens (", c.data.max_target_tokens,
             ") must fit model.max_len = ", c.model.max_len);
  return c;
}

namespace {
json config_json(const Seq2SeqTaskConfig& c, bool result_only) {
  return train::task_config_json(kSeq2Seq, c, result_only);
}
}  // namespace

json to_json(const Seq2SeqTaskConfig& c) { return config_json(c, false); }

// ---------------------------------------------------------------- data and task

Seq2SeqDataset::Seq2SeqDataset(std::vector<std::vector<int32_t>> sources, std::vector<std::vector<int32_t>> targets)
    : sources_(std::move(sources)), targets_(std::move(targets)) {
  HEED_CHECK(sources_.size() == targets_.size(), "seq2seq data: ", sources_.size(), " sources for ", targets_.size(),
             " targets");
}

int64_t Seq2SeqDataset::length(int64_t i) const {
  return int64_t(sources_[size_t(i)].size() + targets_[size_t(i)].size()) + 1;
}

std::vector<int64_t> Seq2SeqDataset::lengths() const {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < size(); ++i) out.push_back(length(i));
  return out;
}

nn::Batch Seq2SeqDataset::batch(const std::vector<int64_t>& indices, const train::BatchContext&) const {
  int64_t s = 1, t = 1;
  for (int64_t i : indices) {
    HEED_CHECK(i >= 0 && i < size(), "seq2seq data: index ", i, " is outside the set of ", size());
    s = std::max<int64_t>(s, int64_t(sources_[size_t(i)].size()));
    t = std::max<int64_t>(t, int64_t(targets_[size_t(i)].size()) + 1);
  }
  const int64_t b = int64_t(indices.size());
  Tensor source = Tensor::zeros({b, s}, DType::I64), source_lengths = Tensor::empty({b}, DType::I64);
  Tensor target_in = Tensor::zeros({b, t}, DType::I64), target_lengths = Tensor::empty({b}, DType::I64);
  Tensor targets = Tensor::empty({b, t}, DType::I64);
  std::fill(targets.i64(), targets.i64() + b * t, int64_t{-100});
  for (int64_t r = 0; r < b; ++r) {
    const std::vector<int32_t>& src = sources_[size_t(indices[size_t(r)])];
    const std::vector<int32_t>& tgt = targets_[size_t(indices[size_t(r)])];
    std::copy(src.begin(), src.end(), source.i64() + r * s);
    source_lengths.i64()[r] = std::max<int64_t>(int64_t(src.size()), 1);
    target_in.i64()[r * t] = data::Tokenizer::kCls;
    for (size_t p = 0; p < tgt.size(); ++p) {
      target_in.i64()[r * t + int64_t(p) + 1] = tgt[p];
      targets.i64()[r * t + int64_t(p)] = tgt[p];
    }
    targets.i64()[r * t + int64_t(tgt.size())] = data::Tokenizer::kSep;
    target_lengths.i64()[r] = int64_t(tgt.size()) + 1;
  }
  nn::Batch out;
  out.indices = indices;
  out.tensors = {{"source", source}, {"source_lengths", source_lengths}, {"target_in", target_in},
                 {"target_lengths", target_lengths}, {"targets", targets}};
  return out;
}

double Seq2SeqTask::target_weight(const nn::Batch& batch) const { return next_token_weight(batch); }

Var Seq2SeqTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  return next_token_loss(output, batch, label_smoothing_);
}

std::unique_ptr<train::Evaluator> Seq2SeqTask::evaluator() const { return next_token_evaluator(); }

// ---------------------------------------------------------------- encoding and training

namespace {
// A source: its pieces cut to max_tokens - 1, then [SEP] (an empty source is [SEP] alone).
std::vector<int32_t> encode_source(const data::Tokenizer& tokenizer, const std::string& text, int64_t max_tokens,
                                   bool* cut = nullptr) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  if (cut) *cut = int64_t(ids.size()) > max_tokens - 1;
  if (int64_t(ids.size()) > max_tokens - 1) ids.resize(size_t(max_tokens - 1));
  ids.push_back(data::Tokenizer::kSep);
  return ids;
}

std::vector<int32_t> encode_target(const data::Tokenizer& tokenizer, const std::string& text, int64_t max_tokens) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  if (int64_t(ids.size()) > max_tokens - 1) ids.resize(size_t(max_tokens - 1));  // room for [CLS] / [SEP]
  return ids;
}

struct Pairs {
  std::vector<std::string> sources, targets;
  std::vector<int64_t> lines;
};

Pairs read_pairs(const std::string& path, const TextInputOptions& in) {
  const Texts texts = read_texts(data::read_text_table(path), in);
  report_text_fixes(texts);
  HEED_CHECK(!texts.fields.empty(), path, ": no records");
  Pairs p;
  for (size_t i = 0; i < texts.fields.size(); ++i) {
    p.sources.push_back(texts.fields[i][0]);
    p.targets.push_back(texts.fields[i][1]);
    p.lines.push_back(texts.lines[i]);
  }
  return p;
}

Seq2SeqDataset encode_pairs(const data::Tokenizer& tokenizer, const Pairs& p, const std::vector<int64_t>& which,
                            const Seq2SeqData& d) {
  std::vector<std::vector<int32_t>> sources, targets;
  for (int64_t i : which) {
    sources.push_back(encode_source(tokenizer, p.sources[size_t(i)], d.input.max_tokens));
    targets.push_back(encode_target(tokenizer, p.targets[size_t(i)], d.max_target_tokens));
  }
  return Seq2SeqDataset(std::move(sources), std::move(targets));
}

std::vector<int64_t> all_of(size_t n) {
  std::vector<int64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int64_t(i);
  return v;
}

int64_t seq2seq_parameters(const nn::Seq2SeqConfig& m) {
  return nn::encoder_parameters(m.dim, m.encoder_depth, m.mlp_hidden) +
         nn::encoder_parameters(m.dim, m.decoder_depth, m.mlp_hidden) * 3 / 2 + m.source_vocab * m.dim;
}
}  // namespace

train::TrainResult train_seq2seq(const Seq2SeqTaskConfig& config_in, const std::string& out_dir, bool resume) {
  Seq2SeqTaskConfig config = config_in;
  const TextInputOptions& in = config.data.input;
  train::apply_threads(config.train);
  // Every file is read and checked before any long work, the test file included.
  const Pairs all = read_pairs(in.train, in);
  const Pairs validation = in.validation.empty() ? Pairs{} : read_pairs(in.validation, in);
  if (!in.test.empty()) read_pairs(in.test, in);
  std::vector<int64_t> train_idx = all_of(all.sources.size()), val_idx;
  if (in.validation.empty())
    std::tie(train_idx, val_idx) = data::split_indices(int64_t(all.sources.size()), in.validation_fraction,
                                                       config.train.seed);
  {  // the memory check, with the vocabulary asked for standing in for the tokenizer's
    nn::Seq2SeqConfig m = config.model;
    m.source_vocab = m.target_vocab = std::max(m.source_vocab, in.vocab_size);
    m.validate();
    const int64_t tokens = in.max_tokens + config.data.max_target_tokens, b = train::batch_rows(config.train, tokens);
    train::check_training_memory(
        {seq2seq_parameters(m),
         nn::encoder_activation_floats(b, tokens, m.dim, m.encoder_depth + m.decoder_depth, m.heads, m.mlp_hidden),
         train::replica_count(config.train)},
        "model.dim, model.encoder_depth, model.decoder_depth, data.max_tokens, train.batch_size or batch_tokens");
  }
  Texts tokenizer_texts;  // both sides of the training pairs: one shared vocabulary
  tokenizer_texts.path = in.train;
  for (int64_t i : train_idx) tokenizer_texts.fields.push_back({all.sources[size_t(i)], all.targets[size_t(i)]});
  const data::Tokenizer tokenizer = obtain_tokenizer(in, config.train.init_from, tokenizer_texts);
  config.model.source_vocab = config.model.target_vocab = tokenizer.vocab_size();
  config.model.share_embeddings = true;
  config.model.validate();
  const Seq2SeqDataset train_data = encode_pairs(tokenizer, all, train_idx, config.data);
  const Seq2SeqDataset val_data = in.validation.empty()
                                      ? encode_pairs(tokenizer, all, val_idx, config.data)
                                      : encode_pairs(tokenizer, validation, all_of(validation.sources.size()),
                                                     config.data);

  nn::Seq2SeqTransformer model(config.model, config.train.seed);
  const Seq2SeqTask task(config.train.label_smoothing);
  const std::unique_ptr<train::BatchPlan> plan =
      train::training_plan(all_of(size_t(train_data.size())), train_data.lengths(), config.train, in.bucket_batches);
  std::vector<int64_t> val_order = all_of(size_t(val_data.size()));
  std::stable_sort(val_order.begin(), val_order.end(),
                   [&](int64_t a, int64_t b) { return val_data.length(a) < val_data.length(b); });
  const train::ShuffledBatches val_plan(val_order, in.eval_batch_size, false, false, 0);

  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = &task;
  setup.train_data = &train_data;
  setup.train_plan = plan.get();
  setup.validation_data = &val_data;
  setup.validation_plan = &val_plan;
  setup.meta = {kSeq2Seq, model.type(), to_json(config), {}, json::object(),
                {{"tokenizer", tokenizer_metadata(tokenizer)}}};
  setup.resume_view = [](const json& stored) { return config_json(parse_seq2seq_config(stored), true); };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[320];
  std::snprintf(summary, sizeof summary, "seq2seq: %ld parameters, %ld pieces; %ld train / %ld validation pairs",
                long(model.parameter_count()), long(tokenizer.vocab_size()), long(train_data.size()),
                long(val_data.size()));
  setup.summary = summary;
  return train::fit(setup);
}

std::string lead_sentence(const std::string& source, int64_t words) {
  const size_t end = source.find(". ");
  const std::string first = source.substr(0, end == std::string::npos ? std::string::npos : end + 1);
  std::string out;
  int64_t n = 0;
  size_t i = 0;
  while (i < first.size() && n < words) {
    const size_t j = first.find(' ', i);
    const std::string word = first.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (!word.empty()) {
      out += (out.empty() ? "" : " ") + word;
      ++n;
    }
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

// ---------------------------------------------------------------- commands

namespace {
using LoadedSeq2Seq = LoadedText<nn::Seq2SeqTransformer, Seq2SeqTaskConfig>;

LoadedSeq2Seq load_seq2seq(const train::Checkpoint& ckpt) {
  auto parse = [](const json& j) { return parse_seq2seq_config(j); };
  return load_text_checkpoint<nn::Seq2SeqTransformer, Seq2SeqTaskConfig>(ckpt, kSeq2Seq, parse);
}

// The decoded outputs of source texts, in their order: beam search (beam 1: greedy) over batches
// of `batch_size` sources of similar lengths (sorted by length, as CTranslate2 does, so a batch's
// sentences end at similar steps and little of the memory is padding).
std::vector<std::string> decode_texts(LoadedSeq2Seq& m, const std::vector<std::string>& sources, int64_t beam,
                                      double length_penalty, int64_t max_tokens, int64_t batch_size) {
  std::vector<std::vector<int64_t>> ids;
  for (const std::string& s : sources) {
    const std::vector<int32_t> pieces = encode_source(m.tokenizer, s, m.config.data.input.max_tokens);
    ids.emplace_back(pieces.begin(), pieces.end());
  }
  std::vector<int64_t> order = all_of(ids.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[size_t(a)].size() < ids[size_t(b)].size(); });
  nn::BeamOptions o;
  o.beam = beam;
  o.max_tokens = max_tokens;
  o.eos = data::Tokenizer::kSep;
  o.length_penalty = length_penalty;
  std::vector<std::string> out(sources.size());
  for (size_t begin = 0; begin < order.size(); begin += size_t(batch_size)) {
    const size_t end = std::min(order.size(), begin + size_t(batch_size));
    std::vector<std::vector<int64_t>> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back(ids[size_t(order[i])]);
    nn::Seq2SeqDecoder decoder(*m.model, batch);
    const std::vector<std::vector<nn::BeamHypothesis>> found =
        nn::beam_search_batch(decoder, std::vector<std::vector<int64_t>>(batch.size(), {data::Tokenizer::kCls}), o);
    for (size_t i = begin; i < end; ++i) {
      std::vector<int32_t> pieces;
      for (int64_t t : found[i - begin].front().tokens)
        if (t != data::Tokenizer::kSep) pieces.push_back(int32_t(t));
      out[size_t(order[i])] = m.tokenizer.decode(pieces);
    }
  }
  return out;
}

int train_command(const TrainCommand& cmd) {
  auto parse = [](const json& j) { return parse_seq2seq_config(j); };
  return run_text_training(cmd, parse, train_seq2seq, "perplexity");
}

// Perplexity on the test pairs; then greedy (or --beam) outputs scored against the targets with ROUGE
// (beside the lead baseline: the source's first sentence cut to the median target length) and
// with BLEU and chrF (beside the copy baseline: the source itself), so one report serves
// summarisation and translation.
// eval's default data: the test pairs, else the validation pairs.
std::string held_out_path(const LoadedSeq2Seq& m, const train::Checkpoint& checkpoint) {
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !in.test.empty() ? in.test : in.validation;
  HEED_CHECK(!path.empty(), checkpoint.path, ": no data.test or data.validation in its config; give --data FILE");
  return path;
}

train::ShuffledBatches in_order(const LoadedSeq2Seq& m, const Seq2SeqDataset& data) {
  return train::ShuffledBatches(all_of(size_t(data.size())), m.config.data.input.eval_batch_size, false, false, 0);
}

void eval_command(const EvalCommand& cmd) {
  LoadedSeq2Seq m = load_seq2seq(cmd.checkpoint);
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !cmd.data.empty() ? cmd.data : held_out_path(m, cmd.checkpoint);
  const Pairs pairs = read_pairs(path, in);
  const Seq2SeqDataset data = encode_pairs(m.tokenizer, pairs, all_of(pairs.sources.size()), m.config.data);
  const train::ShuffledBatches plan = in_order(m, data);
  train::EvalResult e = train::evaluate(*m.model, Seq2SeqTask(), data, plan);
  std::vector<std::string> leads;
  std::vector<int64_t> target_words;
  for (const std::string& t : pairs.targets) target_words.push_back(int64_t(metrics::rouge_tokens(t).size()));
  std::vector<int64_t> sorted = target_words;
  std::sort(sorted.begin(), sorted.end());
  const int64_t median = sorted.empty() ? 1 : std::max<int64_t>(sorted[sorted.size() / 2], 1);
  const int64_t beam = std::max<int64_t>(cmd.beam, 1);
  const std::vector<std::string> outputs =
      decode_texts(m, pairs.sources, beam, cmd.length_penalty, m.config.data.max_target_tokens, in.eval_batch_size);
  for (const std::string& s : pairs.sources) leads.push_back(lead_sentence(s, median));
  struct Scores {
    metrics::RougeScores rouge;
    double bleu, chrf;
    json to_json() const {
      return {{"rouge1", rouge.rouge1}, {"rouge2", rouge.rouge2}, {"rougeL", rouge.rougeL}, {"bleu", bleu},
              {"chrf", chrf}};
    }
  };
  auto score = [&](const std::vector<std::string>& candidates) {
    return Scores{metrics::corpus_rouge(candidates, pairs.targets),
                  metrics::corpus_bleu(candidates, pairs.targets).score,
                  metrics::corpus_chrf(candidates, pairs.targets)};
  };
  const Scores model = score(outputs), lead = score(leads), copy = score(pairs.sources);
  json out = e.json;
  out["checkpoint"] = cmd.checkpoint.path;
  out["data"] = path;
  out[beam > 1 ? "beam" : "greedy"] = model.to_json();  // the key names the decoding
  if (beam > 1) out["decoding"] = {{"beam", beam}, {"length_penalty", cmd.length_penalty}};
  out["lead"] = lead.to_json();
  out["lead_words"] = median;
  out["copy"] = copy.to_json();
  if (cmd.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("%s", e.text.c_str());
  if (beam > 1)
    std::printf("%zu pairs, beam %ld decoding (length penalty %g) against the targets:\n", pairs.sources.size(),
                long(beam), cmd.length_penalty);
  else
    std::printf("%zu pairs, greedy decoding against the targets:\n", pairs.sources.size());
  std::printf("%-34s %8s %8s %8s %8s %8s\n", "", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU", "chrF");
  auto row = [](const std::string& name, const Scores& s) {
    std::printf("%-34s %8.4f %8.4f %8.4f %8.2f %8.2f\n", name.c_str(), s.rouge.rouge1, s.rouge.rouge2, s.rouge.rougeL,
                s.bleu, s.chrf);
  };
  row("model", model);
  row("lead (first sentence, " + std::to_string(median) + " words)", lead);
  row("copy (the source)", copy);
}

void predict_command(const PredictCommand& cmd) {
  HEED_CHECK(!cmd.text.empty() && cmd.input.empty(), "predict: a seq2seq checkpoint takes --text (heed translate "
             "reads lines from stdin)");
  LoadedSeq2Seq m = load_seq2seq(cmd.checkpoint);
  const std::string text =
      decode_texts(m, {data::valid_utf8(cmd.text)}, 1, 1.0, m.config.data.max_target_tokens, 1).front();
  if (cmd.json)
    std::printf("%s\n", json{{"source", cmd.text}, {"output", text}}.dump().c_str());
  else
    std::printf("%s\n", text.c_str());
}
}  // namespace

void translate(const TranslateCommand& cmd, int in, std::FILE* out) {
  LoadedSeq2Seq m = load_seq2seq(cmd.checkpoint);
  const int64_t max_tokens = cmd.max_tokens > 0 ? cmd.max_tokens : m.config.data.max_target_tokens;
  io::LineBatches lines(in, cmd.batch_size);
  int64_t number = 0;
  for (std::vector<std::string> batch; !(batch = lines.next()).empty();) {
    std::vector<std::string> sources;
    std::vector<size_t> slot;  // the batch line of each source; blank lines stay blank
    for (std::string& line : batch) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      const std::string source = data::valid_utf8(line);
      if (source != line)
        std::fprintf(stderr, "heed: line %ld is not valid UTF-8: its bad bytes are read as U+FFFD\n", long(number));
      bool cut = false;
      encode_source(m.tokenizer, source, m.config.data.input.max_tokens, &cut);
      if (cut)
        std::fprintf(stderr, "heed: line %ld is longer than data.max_tokens = %ld pieces: its head is translated\n",
                     long(number), long(m.config.data.input.max_tokens));
      slot.push_back(size_t(&line - batch.data()));
      sources.push_back(source);
    }
    std::vector<std::string> text(batch.size());
    if (!sources.empty()) {
      const std::vector<std::string> decoded =
          decode_texts(m, sources, cmd.beam, cmd.length_penalty, max_tokens, cmd.batch_size);
      for (size_t i = 0; i < slot.size(); ++i) text[slot[i]] = decoded[i];
    }
    for (const std::string& t : text) std::fprintf(out, "%s\n", t.c_str());
    std::fflush(out);
  }
}

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_seq2seq(checkpoint).model;
}

// heed prune: the loss is the teacher-forced target cross-entropy, the curve's metric
// perplexity; "train" is data.train, "test" eval's default. Every attention layer counts: the
// encoder's, and the decoder's self- and cross-attentions (model.layer_heads' order).
PruneSubject prune_subject(const train::Checkpoint& checkpoint, const std::string& data, const std::string& split) {
  LoadedSeq2Seq m = load_seq2seq(checkpoint);
  const std::string path = prune_data_path(data, split, m.config.data.input.train,
                                           [&] { return held_out_path(m, checkpoint); }, "a seq2seq model",
                                           "data.test, else data.validation");
  const Pairs pairs = read_pairs(path, m.config.data.input);
  auto pairs_data = std::make_unique<Seq2SeqDataset>(
      encode_pairs(m.tokenizer, pairs, all_of(pairs.sources.size()), m.config.data));
  train::ShuffledBatches plan = in_order(m, *pairs_data);
  return prune_subject_of(std::move(m.model), std::make_unique<Seq2SeqTask>(), std::move(pairs_data), std::move(plan));
}
}  // namespace

const TaskEntry& seq2seq_entry() {
  static const TaskEntry entry{kSeq2Seq, "sequence to sequence (translation, summarisation): an encoder-decoder "
                               "Transformer", train_command, eval_command, predict_command, nullptr,
                               false, true, module_of, prune_subject};
  return entry;
}

}  // namespace heed::tasks
