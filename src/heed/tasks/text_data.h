// What the text tasks share: reading JSONL/CSV/TSV/TXT records into texts, the tokenizer
// (trained from the training texts, given as a file, or taken from the checkpoint a run starts
// from), encoding ([CLS] field1 [SEP] field2 ..., cut to max_tokens) and the dataset of
// token sequences that makes right-padded batches "tokens" [B, T] and "lengths" [B].
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "heed/data/text_table.h"
#include "heed/data/tokenizer.h"
#include "heed/nn/models/text_encoder.h"
#include "heed/train/config_schema.h"
#include "heed/train/batch_loader.h"
#include "heed/train/checkpoint.h"
#include "heed/train/trainer.h"
#include "heed/tasks/registry.h"
#include "heed/train/task.h"

// The encoder's keys of a text task's "model" section (in nn's namespace, for
// train::read_section). vocab_size comes from the tokenizer; it is accepted so that a resolved
// config reads back.
namespace heed::nn {
template <class V>
void visit(V& v, TextEncoderConfig& m) {
  using namespace train::rule;
  v("dim", m.dim, positive());
  v("depth", m.depth, positive());
  v("heads", m.heads, positive());
  v("layer_heads", m.layer_heads, omitted_when_empty(at_least(1)));
  v("mlp_ratio", m.mlp_ratio, positive());
  v("max_len", m.max_len, positive());
  v("dropout", m.dropout, in(0, 1, true));
  v("attention_dropout", m.attention_dropout, in(0, 1, true));
  v("drop_path", m.drop_path, in(0, 1, true));
  v("layer_norm_eps", m.layer_norm_eps, positive());
  std::string norm = m.pre_norm ? "pre" : "post";
  v("norm", norm, one_of({"pre", "post"}));
  m.pre_norm = norm == "pre";
  v("vocab_size", m.vocab_size, positive());
}
}  // namespace heed::nn

namespace heed::tasks {

// The "data" keys every text task has.
struct TextInputOptions {
  std::string train, validation, test;  // files; an empty validation: a seeded split of train
  double validation_fraction = 0.1;
  std::vector<std::string> text_fields = {"text"};  // joined with [SEP]
  int64_t max_tokens = 256;     // per sequence, [CLS] and [SEP]s included
  // Of a sequence longer than max_tokens, keep the last tail_tokens and the first
  // max_tokens - tail_tokens (Sun et al. 2019, "How to fine-tune BERT for text classification":
  // head + tail beats the head alone; a mail's end holds its signature or unsubscribe footer).
  int64_t tail_tokens = 0;
  // A text longer than max_tokens is cut into up to max_windows windows of at most max_tokens
  // tokens, each its own [CLS] sequence; the classifier pools each and averages the windows
  // (long-document classification by chunks: the model reads the whole mail, not its first
  // max_tokens). 1: one window, the text cut to max_tokens. The cut (head + tail) then applies
  // to max_windows windows' worth of tokens.
  int64_t max_windows = 1;
  int64_t max_chars = 100000;   // per field, before tokenising (longer ones are cut and counted)
  int64_t eval_batch_size = 64;
  int64_t bucket_batches = 50;  // length-bucketed batches (train/batch_loader.h); 0: random
  std::string tokenizer;        // a SentencePiece .model file; empty: train one (or init_from's)
  int64_t vocab_size = 8000;    // when training one
  std::string tokenizer_type = "unigram";  // unigram | bpe
};

template <class V>
void visit(V& v, TextInputOptions& d) {
  using namespace train::rule;
  v("train", d.train, neutral(non_empty()));
  v("validation", d.validation, neutral());
  v("test", d.test, neutral());
  v("validation_fraction", d.validation_fraction, between(0, 1));
  v("text_fields", d.text_fields, non_empty());
  v("max_tokens", d.max_tokens, in(2, 1 << 20));
  v("tail_tokens", d.tail_tokens, non_negative());
  v("max_windows", d.max_windows, in(1, 1 << 16));
  v("max_chars", d.max_chars, at_least(1));
  v("eval_batch_size", d.eval_batch_size, neutral(positive()));
  v("bucket_batches", d.bucket_batches, non_negative());
  v("tokenizer", d.tokenizer);
  v("vocab_size", d.vocab_size, in(16, 1000000));
  v("tokenizer_type", d.tokenizer_type, one_of({"unigram", "bpe"}));
}

// The cross-key checks of the lengths: max_tokens fits the model's positions (model.max_len)
// and tail_tokens leaves room for [CLS].
void check_lengths(const TextInputOptions& options, int64_t model_max_len);

// Records of a file as texts: each field of `fields` cut to max_chars characters (UTF-8 code
// points) and joined in order; counts what it had to change.
struct Texts {
  std::string path;
  std::vector<std::vector<std::string>> fields;  // per record, one string per text field
  std::vector<int64_t> lines;                    // where each record starts
  int64_t cut = 0, invalid_utf8 = 0, empty = 0;
};
Texts read_texts(const data::TextTable& table, const TextInputOptions& options);
// Every text of the files `paths`, in order (unlabelled corpora): a .txt file's lines are its
// records (the one field "text"), other formats give options.text_fields. Reports fixes.
Texts read_corpus(const std::vector<std::string>& paths, const TextInputOptions& options);
// An unlabelled corpus made ready for a language-model task: data.train and `extra_train` read,
// split by data.validation_fraction (seeded) unless data.validation is given, the tokenizer
// obtained from the training texts (obtain_tokenizer), every text encoded with encode_fields;
// with `end_token`, [SEP] closes each sequence that was not cut (a document's end, which a
// causal LM learns to predict). `before_tokenizer` runs once every file has been read and before
// a tokenizer is trained: the place for the memory check.
struct EncodedCorpus {
  data::Tokenizer tokenizer;
  std::vector<std::vector<int32_t>> train, validation;
};
EncodedCorpus encode_corpus(const TextInputOptions& options, const std::vector<std::string>& extra_train,
                            uint64_t seed, const std::string& init_from, bool end_token,
                            const std::function<void()>& before_tokenizer);
// One line on stderr about what read_texts changed (nothing when it changed nothing).
void report_text_fixes(const Texts& texts);

// [CLS] ids(field 1) [SEP] ids(field 2) ..., cut to options.max_tokens: the head only, or the
// head and the last options.tail_tokens.
std::vector<int32_t> encode_fields(const data::Tokenizer& tokenizer, const std::vector<std::string>& fields,
                                   const TextInputOptions& options);

// The text as max_windows windows or fewer: [CLS] ids(field 1) [SEP] ids(field 2) ..., cut (head
// and tail) to max_windows * (max_tokens - 1) tokens after the [CLS], split into the fewest
// windows of at most max_tokens - 1 tokens, of equal lengths (within one), each after its own
// [CLS]. With max_windows = 1, {encode_fields(...)}.
std::vector<std::vector<int32_t>> encode_windows(const data::Tokenizer& tokenizer,
                                                 const std::vector<std::string>& fields,
                                                 const TextInputOptions& options);

// The tokenizer of a run: init_from's (when set: its vocabulary is the embedding's), else the
// data.tokenizer file, else one trained on `training` texts; says on stderr which.
data::Tokenizer obtain_tokenizer(const TextInputOptions& options, const std::string& init_from,
                                 const Texts& training);
// A checkpoint's tokenizer (its "tokenizer" metadata, compressed or, as written before, not);
// errors name the file.
data::Tokenizer tokenizer_of(const std::string& path, const std::map<std::string, std::string>& metadata);
// The "tokenizer" metadata of a checkpoint: "zlib:" + base64 of the zlib-compressed SentencePiece
// model (0.55 of the plain base64 for the spam config's unigram model of 8,000 pieces).
std::string tokenizer_metadata(const data::Tokenizer& tokenizer);

// A text checkpoint ready for its commands: the model with the checkpoint's weights (eval mode),
// its resolved config and its tokenizer. Errors name the checkpoint: another task's, metadata that
// does not parse (with `parse`, the task's config parser), weights that do not fit.
template <class Model, class Config>
struct LoadedText {
  std::unique_ptr<Model> model;
  Config config;
  data::Tokenizer tokenizer;
};

template <class Model, class Config, class Parse>
LoadedText<Model, Config> load_text_checkpoint(const train::Checkpoint& ckpt, const char* task, Parse&& parse) {
  HEED_CHECK(ckpt.meta.task == task, ckpt.path, ": a checkpoint of task '", ckpt.meta.task, "', not ", task);
  Config config;
  try {
    config = parse(ckpt.meta.config);
    config.model.validate();
  } catch (const Error& e) {
    detail::fail(ckpt.path, ": metadata ", e.what());
  }
  LoadedText<Model, Config> out{std::make_unique<Model>(config.model, 0), config,
                                tokenizer_of(ckpt.path, ckpt.meta.extra)};
  train::load_for_inference(*out.model, ckpt);
  return out;
}

// `heed train` for a text task: the config parsed (errors name the file or --set), the run
// directory claimed, `train(config, out, resume)` run; prints the result with the task's metric
// name; returns the exit status (128 + the signal that stopped it).
template <class Parse, class Train>
int run_text_training(const TrainCommand& cmd, Parse&& parse, Train&& train, const char* metric) {
  HEED_CHECK(cmd.data.empty(), "train: a text task reads the files named by data.train (--set data.train=FILE), "
             "not --data");
  const auto config = parse_train_config(cmd, parse);
  const std::shared_ptr<train::RunDirectory> run = claim_run_directory(cmd);  // held for the run
  const train::TrainResult r = train(config, cmd.out, cmd.resume);
  if (r.interrupted) return 128 + r.signal;  // the shell's convention: 130 SIGINT, 143 SIGTERM
  std::printf("trained %ld epochs in %.1f s; best validation %s %.4f; checkpoints %s, %s\n", long(r.epochs_done),
              r.seconds, metric, r.best_metric, r.best_path.c_str(), r.last_path.c_str());
  return 0;
}

// Token sequences (and optional labels) as right-padded batches: "tokens" [B, T] and
// "lengths" [B]. A windowed dataset (windowed(), each record a list of windows) gives "tokens"
// [B, W, T] and "lengths" [B, W] instead, W the most windows of a record in the batch and a
// missing window of length 0, so that every tensor's rows are records (data-parallel slices cut
// rows). With token_dropout p, training batches (context.training) have each ordinary token
// replaced by [MASK] with probability p (word dropout, a regulariser), as a pure function of
// (seed, epoch, window, position); evaluation batches are never changed.
class TextDataset : public train::Dataset {
 public:
  TextDataset(std::vector<std::vector<int32_t>> sequences, std::vector<int64_t> labels, double token_dropout = 0);
  static TextDataset windowed(const std::vector<std::vector<std::vector<int32_t>>>& records,
                              std::vector<int64_t> labels, double token_dropout = 0);
  int64_t size() const override { return int64_t(first_window_.size()) - 1; }
  // A record's tokens, its windows' together.
  int64_t length(int64_t index) const override;
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;
  // Every window of every record, in record order (one per record unless windowed).
  const std::vector<std::vector<int32_t>>& sequences() const { return sequences_; }
  std::vector<int64_t> lengths() const;  // per record, as length()
  int64_t windows(int64_t index) const { return first_window_[size_t(index) + 1] - first_window_[size_t(index)]; }
  bool is_windowed() const { return windowed_; }

 protected:
  std::vector<std::vector<int32_t>> sequences_;
  std::vector<int64_t> first_window_;  // record i's windows: sequences_[first_window_[i], first_window_[i + 1])
  bool windowed_ = false;
  std::vector<int64_t> labels_;  // empty: unlabelled
  double token_dropout_ = 0;
};

// Evaluation batches of `batch_size` in order of length (least padding), unshuffled.
train::ShuffledBatches eval_plan(const TextDataset& data, int64_t batch_size);

// Padding a batch pays for: padded tokens / real tokens - 1 over one epoch of `plan` (a windowed
// batch computes B x W x T tokens).
double padding_overhead(const TextDataset& data, const train::BatchPlan& plan);

}  // namespace heed::tasks
