// The training both language-model tasks share (masked-lm, causal-lm): an unlabelled corpus read,
// split and encoded (encode_corpus, with the memory check before the tokenizer is trained), the
// model and datasets made, the one trainer run. What differs is the task's: its dataset, its
// Task, whether documents end with [SEP], whether the loss holds whole vocabulary logits.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "heed/tasks/text_data.h"
#include "heed/train/resources.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

struct LanguageModelRun {
  const char* task;     // the config's and checkpoint's "task"
  const char* label;    // for the summary line: "masked LM"
  bool end_token;       // [SEP] closes each document that was not cut
  bool full_logits;     // the loss holds [positions, vocabulary] logits (for the memory check)
  const train::Task* objective;
};

// `make_dataset(sequences, vocab_size, config)` builds a split's dataset; `config_json(config,
// result_only)` writes the config back. Config has .model (nn::TextEncoderConfig), .train and
// .data with .input and .extra_train.
template <class Model, class Config, class MakeDataset, class ConfigJson, class Parse>
train::TrainResult train_language_model(Config config, const LanguageModelRun& run, MakeDataset&& make_dataset,
                                        ConfigJson&& config_json, Parse&& parse, const std::string& out_dir,
                                        bool resume) {
  const TextInputOptions& in = config.data.input;
  train::apply_threads(config.train);
  auto check_memory = [&] {  // before the tokenizer is trained: the vocabulary asked for stands in for the real one
    nn::TextEncoderConfig m = config.model;
    m.vocab_size = std::max(m.vocab_size, in.vocab_size);
    m.validate();
    const int64_t rows = train::batch_rows(config.train, in.max_tokens);
    const int64_t logits = run.full_logits ? rows * in.max_tokens * m.vocab_size : 0;
    train::check_training_memory(
        {m.parameter_count(false),
         nn::encoder_activation_floats(rows, in.max_tokens, m.dim, m.depth, m.heads, m.mlp_hidden()) +
             logits,
         train::replica_count(config.train)},
        "model.dim, model.depth, data.vocab_size, data.max_tokens, train.batch_size or batch_tokens");
  };
  EncodedCorpus corpus =
      encode_corpus(in, config.data.extra_train, config.train.seed, config.train.init_from, run.end_token, check_memory);
  const int64_t vocab = corpus.tokenizer.vocab_size();
  config.model.vocab_size = vocab;
  config.model.validate();
  const auto train_data = make_dataset(std::move(corpus.train), vocab, config);
  const auto val_data = make_dataset(std::move(corpus.validation), vocab, config);

  Model model(config.model, config.train.seed);
  std::vector<int64_t> all(size_t(train_data.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
  const std::unique_ptr<train::BatchPlan> plan =
      train::training_plan(all, train_data.lengths(), config.train, in.bucket_batches);
  const train::ShuffledBatches val_plan = eval_plan(val_data, in.eval_batch_size);

  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = run.objective;
  setup.train_data = &train_data;
  setup.train_plan = plan.get();
  setup.validation_data = &val_data;
  setup.validation_plan = &val_plan;
  setup.meta = {run.task, model.type(), config_json(config, false), {}, nlohmann::json::object(),
                {{"tokenizer", tokenizer_metadata(corpus.tokenizer)}}};
  setup.resume_view = [&](const nlohmann::json& stored) { return config_json(parse(stored), true); };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[320];
  std::snprintf(summary, sizeof summary, "%s: %ld parameters, %ld pieces; %ld train / %ld validation texts", run.label,
                long(model.parameter_count()), long(vocab), long(train_data.size()), long(val_data.size()));
  setup.summary = summary;
  return train::fit(setup);
}

}  // namespace heed::tasks
