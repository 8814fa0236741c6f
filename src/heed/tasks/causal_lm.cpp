#include "heed/tasks/causal_lm.h"
#include "heed/tasks/language_model.h"
#include "heed/tasks/next_token.h"

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
  return train::task_config_json(kCausalLm, c, result_only);
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

double CausalLmTask::target_weight(const nn::Batch& batch) const { return next_token_weight(batch); }

Var CausalLmTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  return next_token_loss(output, batch, label_smoothing_);
}

std::unique_ptr<train::Evaluator> CausalLmTask::evaluator() const { return next_token_evaluator(); }

// ---------------------------------------------------------------- training

train::TrainResult train_causal_lm(const CausalLmConfig& config, const std::string& out_dir, bool resume) {
  const CausalLmTask task(config.train.label_smoothing);
  auto make = [](std::vector<std::vector<int32_t>> sequences, int64_t, const CausalLmConfig&) {
    return CausalLmDataset(std::move(sequences), {});
  };
  // The loss makes the vocabulary logits a chunk at a time (linear_cross_entropy): none held whole.
  return train_language_model<nn::CausalLanguageModel>(config, {kCausalLm, "causal LM", true, false, &task}, make,
                                                       config_json, parse_causal_lm_config, out_dir, resume);
}

// ---------------------------------------------------------------- commands

namespace {
using LoadedLm = LoadedText<nn::CausalLanguageModel, CausalLmConfig>;

LoadedLm load_lm(const train::Checkpoint& ckpt) {
  auto parse = [](const json& j) { return parse_causal_lm_config(j); };
  return load_text_checkpoint<nn::CausalLanguageModel, CausalLmConfig>(ckpt, kCausalLm, parse);
}

int train_command(const TrainCommand& cmd) {
  auto parse = [](const json& j) { return parse_causal_lm_config(j); };
  return run_text_training(cmd, parse, train_causal_lm, "perplexity");
}

// The documents of `path` as training saw them: the checkpoint's pieces, [SEP] closing each one
// that was not cut.
CausalLmDataset read_documents(const LoadedLm& m, const std::string& path) {
  const TextInputOptions& in = m.config.data.input;
  const Texts texts = read_corpus({path}, in);
  std::vector<std::vector<int32_t>> sequences;
  for (const auto& f : texts.fields) {
    sequences.push_back(encode_fields(m.tokenizer, f, in));
    if (int64_t(sequences.back().size()) < in.max_tokens) sequences.back().push_back(data::Tokenizer::kSep);
  }
  return CausalLmDataset(std::move(sequences), {});
}

// eval's default data: the test split, else the validation file.
std::string held_out_path(const LoadedLm& m, const train::Checkpoint& checkpoint) {
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !in.test.empty() ? in.test : in.validation;
  HEED_CHECK(!path.empty(), checkpoint.path, ": no data.test or data.validation in its config; give --data FILE");
  return path;
}

void eval_command(const EvalCommand& cmd) {
  LoadedLm m = load_lm(cmd.checkpoint);
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !cmd.data.empty() ? cmd.data : held_out_path(m, cmd.checkpoint);
  const CausalLmDataset data = read_documents(m, path);
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
                {"kv_cache_bytes_per_token", nn::kv_cache_bytes(1, 1, m.config.model.attention_widths())}};
    if (cmd.beam > 1) out["log_probability"] = log_probability;
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("\n");
  }
}

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_lm(checkpoint).model;
}

// heed prune: the loss is the next-token cross-entropy, the curve's metric perplexity; "train"
// is the training file (heads are chosen on it), "test" eval's default.
PruneSubject prune_subject(const train::Checkpoint& checkpoint, const std::string& data, const std::string& split) {
  LoadedLm m = load_lm(checkpoint);
  const std::string path = prune_data_path(data, split, m.config.data.input.train,
                                           [&] { return held_out_path(m, checkpoint); }, "a causal LM",
                                           "data.test, else data.validation");
  auto documents = std::make_unique<CausalLmDataset>(read_documents(m, path));
  train::ShuffledBatches plan = eval_plan(*documents, m.config.data.input.eval_batch_size);
  return prune_subject_of(std::move(m.model), std::make_unique<CausalLmTask>(), std::move(documents), std::move(plan));
}
}  // namespace

const TaskEntry& causal_lm_entry() {
  static const TaskEntry entry{kCausalLm, "causal (GPT-style) language modelling; heed generate continues a prompt",
                               train_command, eval_command, predict_command, nullptr, false, false, module_of,
                               prune_subject};
  return entry;
}

}  // namespace heed::tasks
