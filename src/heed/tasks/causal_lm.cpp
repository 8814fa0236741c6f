#include "heed/tasks/causal_lm.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "heed/ops/ops.h"
#include "heed/train/config_json.h"
#include "heed/train/resources.h"

namespace heed::tasks {

using nlohmann::json;

CausalLmConfig parse_causal_lm_config(const json& j) {
  const CausalLmConfig c = train::read_task_config<CausalLmConfig>(j, kCausalLm);
  check_lengths(c.data.input, c.model.max_len);
  return c;
}

namespace {
json config_json(const CausalLmConfig& c, bool result_only) {
  return {{"task", kCausalLm},
          {"model", train::section_json(c.model, result_only)},
          {"train", train::section_json(c.train, result_only)},
          {"data", train::section_json(c.data, result_only)}};
}
}  // namespace

json to_json(const CausalLmConfig& c) { return config_json(c, false); }

// ---------------------------------------------------------------- data and task

nn::Batch CausalLmDataset::batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const {
  nn::Batch out = TextDataset::batch(indices, context);
  const Tensor& tokens = out.tensors.at("tokens");
  const int64_t b = tokens.size(0), t = tokens.size(1);
  Tensor targets = Tensor::empty({b, t}, DType::I64);
  for (int64_t r = 0; r < b; ++r) {
    const int64_t length = out.tensors.at("lengths").i64()[r];
    for (int64_t p = 0; p < t; ++p) targets.i64()[r * t + p] = p + 1 < length ? tokens.i64()[r * t + p + 1] : -100;
  }
  out.tensors["targets"] = targets;
  return out;
}

Tensor next_token_targets(const Tensor& targets) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < targets.numel(); ++i)
    if (targets.i64()[i] != -100) out.push_back(targets.i64()[i]);
  return Tensor::from_indices({int64_t(out.size())}, out);
}

namespace {
// Hidden states [M, D] and the output weight [V, D] -> summed loss and correct arg maxes, a chunk
// of rows at a time (the logits of a whole evaluation batch would not fit).
class CausalLmEvaluator : public train::Evaluator {
 public:
  void add(const nn::ModelOutput& output, const nn::Batch& batch) override {
    const Tensor targets = next_token_targets(batch.at("targets"));
    const int64_t m = targets.numel();
    if (m == 0) return;
    const Tensor& hidden = output.logits.value();
    constexpr int64_t kChunk = 256;
    for (int64_t begin = 0; begin < m; begin += kChunk) {
      const int64_t end = std::min(m, begin + kChunk);
      const Tensor logits = linear(Var(hidden.slice(0, begin, end).contiguous()), output.output_weight).value();
      const Tensor chunk_targets = targets.slice(0, begin, end).contiguous();
      loss_sum_ += double(cross_entropy(Var(logits), chunk_targets).value().item()) * double(end - begin);
      const int64_t v = logits.size(1);
      for (int64_t i = 0; i < end - begin; ++i) {
        const float* row = logits.f32() + i * v;
        correct_ += (std::max_element(row, row + v) - row) == chunk_targets.i64()[i];
      }
    }
    count_ += m;
  }
  train::EvalResult finish() override {
    train::EvalResult r;
    r.loss = count_ ? loss_sum_ / double(count_) : 0;
    r.metric = std::exp(r.loss);
    const double accuracy = count_ ? double(correct_) / double(count_) : 0;
    r.json = {{"tokens", count_}, {"loss", r.loss}, {"perplexity", r.metric}, {"next_token_accuracy", accuracy}};
    char text[256];
    std::snprintf(text, sizeof text, "next tokens %ld: loss %.4f, perplexity %.2f, accuracy %.4f\n", long(count_),
                  r.loss, r.metric, accuracy);
    r.text = text;
    return r;
  }

 private:
  double loss_sum_ = 0;
  int64_t correct_ = 0, count_ = 0;
};
}  // namespace

double CausalLmTask::target_weight(const nn::Batch& batch) const {
  return double(next_token_targets(batch.at("targets")).numel());
}

Var CausalLmTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  HEED_CHECK(output.output_weight.defined(), "causal LM: the model returned no output weight");
  return linear_cross_entropy(output.logits, output.output_weight, next_token_targets(batch.at("targets")));
}

std::unique_ptr<train::Evaluator> CausalLmTask::evaluator() const { return std::make_unique<CausalLmEvaluator>(); }

// ---------------------------------------------------------------- training

train::TrainResult train_causal_lm(const CausalLmConfig& config_in, const std::string& out_dir, bool resume) {
  CausalLmConfig config = config_in;
  const TextInputOptions& in = config.data.input;
  train::apply_threads(config.train);
  auto check_memory = [&] {  // before the tokenizer is trained: the vocabulary asked for stands in for the real one
    nn::TextEncoderConfig m = config.model;
    m.vocab_size = std::max(m.vocab_size, in.vocab_size);
    m.validate();
    train::check_training_memory(
        {m.parameter_count(false),
         nn::encoder_activation_floats(config.train.batch_size, in.max_tokens, m.dim, m.depth, m.heads, m.mlp_hidden()),
         train::replica_count(config.train)},
        "model.dim, model.depth, data.vocab_size, data.max_tokens, train.batch_size");
  };
  EncodedCorpus corpus = encode_corpus(in, config.data.extra_train, config.train.seed, config.train.init_from, true,
                                       check_memory);
  config.model.vocab_size = corpus.tokenizer.vocab_size();
  config.model.validate();
  const CausalLmDataset train_data(std::move(corpus.train), {});
  const CausalLmDataset val_data(std::move(corpus.validation), {});

  nn::CausalLanguageModel model(config.model, config.train.seed);
  const CausalLmTask task;
  std::vector<int64_t> all(size_t(train_data.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
  const std::unique_ptr<train::BatchPlan> plan =
      text_plan(train_data, all, config.train.batch_size, in.bucket_batches, config.train.seed);
  const train::ShuffledBatches val_plan = eval_plan(val_data, in.eval_batch_size);

  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = &task;
  setup.train_data = &train_data;
  setup.train_plan = plan.get();
  setup.validation_data = &val_data;
  setup.validation_plan = &val_plan;
  setup.meta = {kCausalLm, model.type(), to_json(config), {}, json::object(),
                {{"tokenizer", tokenizer_metadata(corpus.tokenizer)}}};
  setup.resume_view = [](const json& stored) { return config_json(parse_causal_lm_config(stored), true); };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[320];
  std::snprintf(summary, sizeof summary, "causal LM: %ld parameters, %ld pieces; %ld train / %ld validation texts",
                long(model.parameter_count()), long(corpus.tokenizer.vocab_size()), long(train_data.size()),
                long(val_data.size()));
  setup.summary = summary;
  return train::fit(setup);
}

// ---------------------------------------------------------------- commands

namespace {
struct LoadedLm {
  std::unique_ptr<nn::CausalLanguageModel> model;
  CausalLmConfig config;
  data::Tokenizer tokenizer;
};

LoadedLm load_lm(const train::Checkpoint& ckpt) {
  HEED_CHECK(ckpt.meta.task == kCausalLm, ckpt.path, ": a checkpoint of task '", ckpt.meta.task, "', not ", kCausalLm);
  CausalLmConfig config;
  try {
    config = parse_causal_lm_config(ckpt.meta.config);
    config.model.validate();
  } catch (const Error& e) {
    detail::fail(ckpt.path, ": metadata ", e.what());
  }
  LoadedLm out{std::make_unique<nn::CausalLanguageModel>(config.model, 0), config,
               tokenizer_of(ckpt.path, ckpt.meta.extra)};
  try {
    out.model->load_state_dict(ckpt.model);
  } catch (const Error& e) {
    detail::fail(ckpt.path, ": ", e.what());
  }
  out.model->eval();
  return out;
}

int train_command(const TrainCommand& cmd) {
  HEED_CHECK(cmd.data.empty(), "train: a text task reads the files named by data.train (--set data.train=FILE), "
             "not --data");
  const CausalLmConfig config = parse_train_config(cmd, [](const json& j) { return parse_causal_lm_config(j); });
  const std::shared_ptr<train::RunDirectory> run = claim_run_directory(cmd);  // held for the run
  const train::TrainResult r = train_causal_lm(config, cmd.out, cmd.resume);
  if (r.interrupted) return 128 + r.signal;  // the shell's convention: 130 SIGINT, 143 SIGTERM
  std::printf("trained %ld epochs in %.1f s; best validation perplexity %.2f; checkpoints %s, %s\n",
              long(r.epochs_done), r.seconds, r.best_metric, r.best_path.c_str(), r.last_path.c_str());
  return 0;
}

void eval_command(const EvalCommand& cmd) {
  LoadedLm m = load_lm(cmd.checkpoint);
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !cmd.data.empty() ? cmd.data : !in.test.empty() ? in.test : in.validation;
  HEED_CHECK(!path.empty(), cmd.checkpoint.path, ": no data.test or data.validation in its config; give --data FILE");
  const Texts texts = read_corpus({path}, in);
  std::vector<std::vector<int32_t>> sequences;
  for (const auto& f : texts.fields) {
    sequences.push_back(encode_fields(m.tokenizer, f, in));
    if (int64_t(sequences.back().size()) < in.max_tokens) sequences.back().push_back(data::Tokenizer::kSep);
  }
  const CausalLmDataset data(std::move(sequences), {});
  const train::EvalResult e = train::evaluate(*m.model, CausalLmTask(), data, eval_plan(data, in.eval_batch_size));
  if (cmd.json) {
    json out = e.json;
    out["checkpoint"] = cmd.checkpoint.path;
    out["data"] = path;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s", e.text.c_str());
  }
}

// The prompt as the model saw documents begin: [CLS] and its pieces.
std::vector<int64_t> prompt_ids(const data::Tokenizer& tokenizer, const std::string& prompt) {
  std::vector<int64_t> ids = {data::Tokenizer::kCls};
  for (int32_t id : tokenizer.encode(data::valid_utf8(prompt))) ids.push_back(id);
  return ids;
}

std::vector<int32_t> without_end(const std::vector<int64_t>& ids) {
  std::vector<int32_t> out;
  for (int64_t id : ids)
    if (id != data::Tokenizer::kSep) out.push_back(int32_t(id));
  return out;
}

// predict: the greedy continuation of --text (or of each line of --input).
void predict_command(const PredictCommand& cmd) {
  HEED_CHECK(cmd.text.empty() != cmd.input.empty(), "predict: a causal LM takes --text or --input (one prompt a line)");
  LoadedLm m = load_lm(cmd.checkpoint);
  std::vector<std::string> prompts = {cmd.text};
  if (!cmd.input.empty()) {
    TextInputOptions in = m.config.data.input;
    const Texts texts = read_corpus({cmd.input}, in);
    prompts.clear();
    for (const auto& f : texts.fields) prompts.push_back(f.empty() ? "" : f[0]);
  }
  nn::GenerateOptions options;
  options.eos = data::Tokenizer::kSep;
  for (const std::string& prompt : prompts) {
    const std::vector<int64_t> out = nn::generate(*m.model, prompt_ids(m.tokenizer, prompt), options);
    const std::string text = m.tokenizer.decode(without_end(out));
    if (cmd.json)
      std::printf("%s\n", json{{"prompt", prompt}, {"continuation", text}}.dump().c_str());
    else
      std::printf("%s\n", text.c_str());
  }
}
}  // namespace

void generate(const GenerateCommand& cmd) {
  LoadedLm m = load_lm(cmd.checkpoint);
  nn::GenerateOptions options = cmd.options;
  options.eos = data::Tokenizer::kSep;
  const std::vector<int64_t> prompt = prompt_ids(m.tokenizer, cmd.prompt);
  std::vector<int64_t> generated;
  double log_probability = 0;
  size_t printed = 0;
  // Streams the text as it grows: decoding the whole continuation each time keeps SentencePiece's
  // spacing right; only what extends the printed text is written.
  auto stream = [&](int64_t token) {
    generated.push_back(token);
    if (cmd.json) return;
    const std::string text = m.tokenizer.decode(without_end(generated));
    if (text.size() > printed && text.compare(0, printed, text, 0, printed) == 0) {
      std::fwrite(text.data() + printed, 1, text.size() - printed, stdout);
      std::fflush(stdout);
      printed = text.size();
    }
  };
  if (cmd.beam > 1) {  // the best hypothesis, printed whole at the end
    HEED_CHECK(options.sampling.temperature == 0, "generate: --beam searches; it does not sample (--temperature)");
    nn::BeamOptions beam;
    beam.beam = cmd.beam;
    beam.max_tokens = options.max_tokens;
    beam.eos = options.eos;
    beam.length_penalty = cmd.length_penalty;
    beam.use_cache = options.use_cache;
    beam.max_memory = options.max_memory;
    const nn::BeamHypothesis best = nn::beam_search(*m.model, prompt, beam).front();
    log_probability = best.log_probability;
    for (int64_t token : best.tokens) stream(token);
  } else {
    nn::generate(*m.model, prompt, options, stream);
  }
  const std::string text = m.tokenizer.decode(without_end(generated));
  if (cmd.json) {
    json out = {{"prompt", cmd.prompt},
                {"continuation", text},
                {"tokens", generated},
                {"stopped_at_end", !generated.empty() && generated.back() == data::Tokenizer::kSep},
                {"kv_cache_bytes_per_token", nn::kv_cache_bytes(1, 1, m.config.model.dim, m.config.model.depth)}};
    if (cmd.beam > 1) out["log_probability"] = log_probability;
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("\n");
  }
}

const TaskEntry& causal_lm_entry() {
  static const TaskEntry entry{kCausalLm, "causal (GPT-style) language modelling; heed generate continues a prompt",
                               train_command, eval_command, predict_command, nullptr};
  return entry;
}

}  // namespace heed::tasks
