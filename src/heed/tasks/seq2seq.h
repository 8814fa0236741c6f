// Sequence to sequence (the article's translation and summarisation) as a task on the one
// trainer: pairs of texts (data.text_fields = [source field, target field] of JSONL/CSV/TSV),
// one SentencePiece vocabulary trained on both sides of the training pairs, the encoder-decoder
// of nn/models/seq2seq trained with teacher forcing (the decoder reads [CLS] + target and
// predicts target + [SEP]), padding masks on both sides, length-bucketed batches; selection by
// validation perplexity. `heed eval` also decodes the test sources (greedy) and reports ROUGE,
// BLEU and chrF beside two baselines (lead sentence, copy of the source); `heed translate` /
// `heed summarize` turn lines into lines.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/nn/models/seq2seq.h"
#include "heed/tasks/registry.h"
#include "heed/tasks/text_data.h"
#include "heed/train/options.h"
#include "heed/train/trainer.h"

namespace heed::nn {
template <class V>
void visit(V& v, Seq2SeqConfig& m) {
  using namespace train::rule;
  v("dim", m.dim, positive());
  v("heads", m.heads, positive());
  v("encoder_depth", m.encoder_depth, positive());
  v("decoder_depth", m.decoder_depth, positive());
  v("mlp_hidden", m.mlp_hidden, positive());
  v("max_len", m.max_len, positive());
  v("dropout", m.dropout, in(0, 1, true));
  v("attention_dropout", m.attention_dropout, in(0, 1, true));
  v("layer_norm_eps", m.layer_norm_eps, positive());
  std::string norm = m.pre_norm ? "pre" : "post";
  v("norm", norm, one_of({"pre", "post"}));
  m.pre_norm = norm == "pre";
  v("positions", m.positions, one_of({"sinusoidal", "learned"}));
  v("tie_output", m.tie_output);
  v("source_vocab", m.source_vocab, positive());  // from the tokenizer; accepted so a resolved config reads back
  v("target_vocab", m.target_vocab, positive());
  v("layer_heads", m.layer_heads, omitted_when_empty(at_least(1)));
}
}  // namespace heed::nn

namespace heed::tasks {

inline constexpr const char* kSeq2Seq = "seq2seq";

struct Seq2SeqData {
  TextInputOptions input;         // text_fields: [source, target]; max_tokens: the source's
  int64_t max_target_tokens = 64;  // the target's, [CLS] or [SEP] included
};

template <class V>
void visit(V& v, Seq2SeqData& d) {
  using namespace train::rule;
  visit(v, d.input);
  v("max_target_tokens", d.max_target_tokens, in(2, 1 << 20));
}

struct Seq2SeqTaskConfig {
  nn::Seq2SeqConfig model;
  train::TrainOptions train;
  Seq2SeqData data;
};

Seq2SeqTaskConfig parse_seq2seq_config(const nlohmann::json& json);
nlohmann::json to_json(const Seq2SeqTaskConfig& config);

// Pairs of token sequences: sources (pieces, [SEP]) and targets (pieces) as batches "source",
// "source_lengths", "target_in" ([CLS] + target), "target_lengths" and "targets" (target +
// [SEP], -100 in the padding). A pair's length (for bucketing) is its source's plus its target's.
class Seq2SeqDataset : public train::Dataset {
 public:
  Seq2SeqDataset(std::vector<std::vector<int32_t>> sources, std::vector<std::vector<int32_t>> targets);
  int64_t size() const override { return int64_t(sources_.size()); }
  int64_t length(int64_t i) const override;
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;
  std::vector<int64_t> lengths() const;

 private:
  std::vector<std::vector<int32_t>> sources_, targets_;
};

class Seq2SeqTask : public train::Task {
 public:
  explicit Seq2SeqTask(float label_smoothing = 0.f) : label_smoothing_(label_smoothing) {}
  std::string name() const override { return kSeq2Seq; }
  std::string metric_name() const override { return "perplexity"; }
  bool higher_is_better() const override { return false; }
  double target_weight(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

 private:
  float label_smoothing_;
};

train::TrainResult train_seq2seq(const Seq2SeqTaskConfig& config, const std::string& out_dir, bool resume);

// The lead baseline of summarisation: the source's first sentence (up to the first ". " or the
// end), cut to `words` words.
std::string lead_sentence(const std::string& source, int64_t words);

const TaskEntry& seq2seq_entry();

// `heed translate` / `heed summarize`: one output line per input line of the file descriptor
// `in`, in order; an empty line gives an empty line; a line longer than the model's source length
// is cut, and a line with invalid UTF-8 has its bad bytes replaced by U+FFFD, each with a warning
// that names its number. Lines are decoded batch_size at a time, or as many as are ready
// (io/line_batches.h), and each batch's output is flushed at once.
struct TranslateCommand {
  train::Checkpoint checkpoint;
  int64_t beam = 1;
  double length_penalty = 1.0;
  int64_t max_tokens = 0;   // 0: the config's data.max_target_tokens
  int64_t batch_size = 32;  // sentences decoded together
};
void translate(const TranslateCommand& command, int in, std::FILE* out);

}  // namespace heed::tasks
