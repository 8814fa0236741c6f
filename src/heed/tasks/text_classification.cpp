#include "heed/train/resources.h"
#include "heed/tasks/text_classification.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include "heed/core/parallel.h"
#include "heed/data/loader.h"
#include "heed/interpret/explain.h"
#include "heed/interpret/explanation_files.h"
#include "heed/kernels/elementwise.h"
#include "heed/metrics/ranking.h"
#include "heed/ops/ops.h"
#include "heed/tasks/classification.h"
#include "heed/train/config_json.h"

namespace heed::tasks {

using nlohmann::json;

TextClassifierConfig parse_text_classifier_config(const json& j) {
  const TextClassifierConfig c = train::read_task_config<TextClassifierConfig>(j, kTextClassification);
  check_lengths(c.data.input, c.model.encoder.max_len);
  return c;
}

namespace {
json config_json(const TextClassifierConfig& c, bool result_only) {
  return train::task_config_json(kTextClassification, c, result_only);
}
}  // namespace

json to_json(const TextClassifierConfig& c) { return config_json(c, false); }

namespace {
// Labels of a table's records as class indices; a value outside `classes` names the record.
std::vector<int64_t> labels_of(const data::TextTable& table, const std::string& field,
                               const std::vector<std::string>& classes) {
  std::vector<int64_t> out;
  for (const data::TextRecord& r : table.records) {
    const std::string& value = data::field_of(table, r, field);
    auto it = std::find(classes.begin(), classes.end(), value);
    if (it == classes.end()) {
      std::string names;
      for (const std::string& n : classes) names += (names.empty() ? "" : ", ") + n;
      detail::fail(table.path, ":", r.line, ": field '", field, "' is \"", value, "\", not one of the classes (",
                   names, ")");
    }
    out.push_back(it - classes.begin());
  }
  return out;
}

std::vector<std::string> classes_for(const data::TextTable& train, const TextClassificationData& d) {
  if (!d.class_names.empty()) return d.class_names;
  std::set<std::string> seen;
  for (const data::TextRecord& r : train.records) seen.insert(data::field_of(train, r, d.label_field));
  HEED_CHECK(seen.size() >= 2, train.path, ": the training labels (field '", d.label_field, "') have ",
             seen.size(), " distinct value", seen.size() == 1 ? "" : "s", "; a classifier needs at least 2");
  return std::vector<std::string>(seen.begin(), seen.end());
}

std::vector<int64_t> iota_of(size_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

template <class T>
std::vector<T> pick(const std::vector<T>& values, const std::vector<int64_t>& which) {
  std::vector<T> out;
  for (int64_t i : which) out.push_back(values[size_t(i)]);
  return out;
}

std::vector<float> class_weights_of(const TextClassificationData& d) {
  return std::vector<float>(d.class_weights.begin(), d.class_weights.end());
}

struct Split {
  Texts texts;
  std::vector<int64_t> labels;
};

// A labelled file read as texts and class indices.
Split read_labelled(const std::string& path, const TextClassificationData& d, const std::vector<std::string>& classes) {
  const data::TextTable table = data::read_text_table(path);
  HEED_CHECK(!table.records.empty(), path, ": no records");
  Split s{read_texts(table, d.input), labels_of(table, d.label_field, classes)};
  report_text_fixes(s.texts);
  return s;
}
}  // namespace

std::unique_ptr<TextDataset> encode_dataset(const data::Tokenizer& tokenizer, const Texts& texts,
                                            const std::vector<int64_t>& which, const TextInputOptions& options,
                                            std::vector<int64_t> labels, double token_dropout) {
  if (options.max_windows == 1) {
    std::vector<std::vector<int32_t>> sequences;
    for (int64_t i : which) sequences.push_back(encode_fields(tokenizer, texts.fields[size_t(i)], options));
    return std::make_unique<TextDataset>(std::move(sequences), std::move(labels), token_dropout);
  }
  std::vector<std::vector<std::vector<int32_t>>> records;
  for (int64_t i : which) records.push_back(encode_windows(tokenizer, texts.fields[size_t(i)], options));
  return std::make_unique<TextDataset>(TextDataset::windowed(records, std::move(labels), token_dropout));
}

PreparedTextClassification prepare_text_classification(const TextClassifierConfig& config_in) {
  TextClassifierConfig config = config_in;
  const TextInputOptions& in = config.data.input;
  // Every split is read and checked before any work.
  const data::TextTable train_table = data::read_text_table(in.train);
  HEED_CHECK(!train_table.records.empty(), in.train, ": no records");
  config.data.class_names = classes_for(train_table, config.data);
  check_class_names(config.data.class_names, config.data.class_names.empty() ? "data.class_names" :
                    "data.class_names (or the training labels)");
  check_selection(config.data.select_metric, config.data.class_names, "data.select_metric");
  Texts all = read_texts(train_table, in);
  report_text_fixes(all);
  const std::vector<int64_t> all_labels = labels_of(train_table, config.data.label_field, config.data.class_names);
  std::vector<int64_t> train_idx, val_idx;
  Split validation;
  if (in.validation.empty()) {
    std::tie(train_idx, val_idx) = data::split_indices(int64_t(all.fields.size()), in.validation_fraction, config.train.seed);
  } else {
    train_idx = iota_of(all.fields.size());
    validation = read_labelled(in.validation, config.data, config.data.class_names);
  }
  if (!in.test.empty()) (void)read_labelled(in.test, config.data, config.data.class_names);  // checked now
  if (config.data.train_fraction < 1) {
    // Seeded, independent of the validation split's draw; at least one record stays.
    const std::vector<int64_t> kept =
        data::split_indices(int64_t(train_idx.size()), 1 - config.data.train_fraction, config.train.seed + 1).first;
    std::vector<int64_t> part;
    for (int64_t k : kept) part.push_back(train_idx[size_t(k)]);
    train_idx = std::move(part);
  }

  // The tokenizer learns from the training part only.
  Texts train_texts;
  train_texts.path = all.path;
  for (int64_t i : train_idx) train_texts.fields.push_back(all.fields[size_t(i)]);
  const std::vector<int64_t> train_labels = pick(all_labels, train_idx);
  if (config.data.class_weight == "balanced" && config.data.class_weights.empty())
    for (float w : balanced_class_weights(train_labels, int64_t(config.data.class_names.size())))
      config.data.class_weights.push_back(w);
  HEED_CHECK(config.data.class_weights.empty() || config.data.class_weights.size() == config.data.class_names.size(),
             "config: data.class_weights has ", config.data.class_weights.size(), " values for the ",
             config.data.class_names.size(), " classes");
  {  // before the tokenizer is trained: the vocabulary asked for stands in for the real one
    nn::TextEncoderConfig m = config.model.encoder;
    m.vocab_size = std::max(m.vocab_size, in.vocab_size);
    m.num_classes = int64_t(config.data.class_names.size());
    m.validate();
    train::check_training_memory({m.parameter_count(true),
                                  nn::encoder_activation_floats(train::batch_rows(config.train, in.max_tokens) * in.max_windows,
                                                                in.max_tokens, m.dim, m.depth,
                                                                m.heads, m.mlp_hidden()),
                                  train::replica_count(config.train)},
                                 "model.dim, model.depth, data.vocab_size, data.max_tokens, train.batch_size or "
                                 "batch_tokens");
  }
  data::Tokenizer tokenizer = obtain_tokenizer(in, config.train.init_from, train_texts);
  config.model.encoder.vocab_size = tokenizer.vocab_size();
  config.model.encoder.num_classes = int64_t(config.data.class_names.size());
  config.model.encoder.validate();

  auto train_data = encode_dataset(tokenizer, all, train_idx, in, train_labels, config.data.token_dropout);
  auto val_data = in.validation.empty()
                      ? encode_dataset(tokenizer, all, val_idx, in, pick(all_labels, val_idx))
                      : encode_dataset(tokenizer, validation.texts, iota_of(validation.texts.fields.size()), in,
                                       validation.labels);
  HEED_CHECK(val_data->size() > 0, in.train, ": the validation split is empty");
  std::unique_ptr<train::BatchPlan> plan =
      train::training_plan(iota_of(size_t(train_data->size())), train_data->lengths(), config.train, in.bucket_batches);
  return {config, std::move(tokenizer), std::move(train_data), std::move(val_data), std::move(plan)};
}

train::TrainResult train_text_classifier(const TextClassifierConfig& config_in, const std::string& out_dir, bool resume) {
  train::apply_threads(config_in.train);
  const PreparedTextClassification run = prepare_text_classification(config_in);
  const TextClassifierConfig& config = run.config;
  const TextDataset& train_data = *run.train_data;
  const TextDataset& val_data = *run.validation_data;

  nn::TextClassifier model(config.model.encoder, config.train.seed);
  const ClassificationTask task(kTextClassification, config.data.class_names, config.train.label_smoothing,
                                config.data.select_metric, class_weights_of(config.data));
  const train::ShuffledBatches val_plan = eval_plan(val_data, config.data.input.eval_batch_size);

  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = &task;
  setup.train_data = &train_data;
  setup.train_plan = run.train_plan.get();
  setup.validation_data = &val_data;
  setup.validation_plan = &val_plan;
  setup.meta = {kTextClassification, model.type(), to_json(config), {}, json::object(),
                {{"tokenizer", tokenizer_metadata(run.tokenizer)}}};
  setup.resume_view = [](const json& stored) { return config_json(parse_text_classifier_config(stored), true); };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[320];
  std::snprintf(summary, sizeof summary, "text classifier: %ld parameters, %ld pieces, %zu classes; %ld train / %ld "
                "validation records; padding overhead %.1f%%", long(model.parameter_count()),
                long(run.tokenizer.vocab_size()), config.data.class_names.size(), long(train_data.size()),
                long(val_data.size()), 100 * padding_overhead(train_data, *run.train_plan));
  setup.summary = summary;
  return train::fit(setup);
}

LoadedTextClassifier load_text_classifier(const train::Checkpoint& ckpt) {
  HEED_CHECK(ckpt.meta.task == kTextClassification, ckpt.path, ": a checkpoint of task '", ckpt.meta.task, "', not ",
             kTextClassification);
  TextClassifierConfig config;
  try {
    config = parse_text_classifier_config(ckpt.meta.config);
    config.model.encoder.validate();
  } catch (const Error& e) {
    detail::fail(ckpt.path, ": metadata ", e.what());
  }
  LoadedTextClassifier out{std::make_unique<nn::TextClassifier>(config.model.encoder, 0), config,
                           tokenizer_of(ckpt.path, ckpt.meta.extra)};
  HEED_CHECK(out.tokenizer.vocab_size() == config.model.encoder.vocab_size, ckpt.path, ": its tokenizer has ",
             out.tokenizer.vocab_size(), " pieces but the model's vocabulary is ", config.model.encoder.vocab_size);
  train::load_for_inference(*out.model, ckpt);
  return out;
}

namespace {

// The loaded classifier's evaluation: its metric and class weights, no label smoothing.
ClassificationTask evaluation_task(const LoadedTextClassifier& m) {
  return ClassificationTask(kTextClassification, m.config.data.class_names, 0.f, m.config.data.select_metric,
                            class_weights_of(m.config.data));
}

// Every record of `s`, tokenised by the classifier's own tokenizer and input settings.
std::unique_ptr<TextDataset> encode_records(const LoadedTextClassifier& m, const Split& s) {
  return encode_dataset(m.tokenizer, s.texts, iota_of(s.texts.fields.size()), m.config.data.input, s.labels);
}

}  // namespace

train::EvalResult evaluate_text_file(LoadedTextClassifier& m, const std::string& path, int replicas) {
  const Split s = read_labelled(path, m.config.data, m.config.data.class_names);
  const std::unique_ptr<TextDataset> data = encode_records(m, s);
  return train::evaluate(*m.model, evaluation_task(m), *data, eval_plan(*data, m.config.data.input.eval_batch_size),
                         replicas);
}

Tensor class_probabilities(LoadedTextClassifier& m, const TextDataset& data) {
  const int64_t classes = int64_t(m.config.data.class_names.size());
  Tensor out = Tensor::zeros({data.size(), classes});
  NoGradGuard no_grad;
  for (const std::vector<int64_t>& indices : eval_plan(data, m.config.data.input.eval_batch_size).epoch(0)) {
    const Tensor probs = softmax(m.model->forward(data.batch(indices, {})).logits).value();
    for (size_t r = 0; r < indices.size(); ++r)
      std::copy_n(probs.f32() + int64_t(r) * classes, classes, out.f32() + indices[r] * classes);
  }
  return out;
}

train::EvalResult evaluate_text_ensemble(std::vector<LoadedTextClassifier>& members, const std::string& path) {
  HEED_CHECK(!members.empty(), "evaluate_text_ensemble: no members");
  const std::vector<std::string>& names = members[0].config.data.class_names;
  Tensor mean;
  std::vector<int64_t> labels;
  for (size_t i = 0; i < members.size(); ++i) {
    LoadedTextClassifier& m = members[i];
    HEED_CHECK(m.config.data.class_names == names, "eval: ensemble member ", i + 1, " has other class names than "
               "the first; an ensemble averages the probabilities of the same classes");
    const Split s = read_labelled(path, m.config.data, names);
    const Tensor p = class_probabilities(m, *encode_records(m, s));
    if (i == 0) {
      mean = Tensor::zeros(p.shape());
      labels = s.labels;
    }
    HEED_CHECK(s.labels == labels, path, ": ensemble member ", i + 1, " reads other labels than the first (its "
               "data.label_field or text fields differ)");
    kernels::axpy(1.f / float(members.size()), p.f32(), mean.f32(), p.numel());
  }
  // The evaluator takes logits; log of the mean probability is the ensemble's (softmax gives it back).
  Tensor log_mean = Tensor::zeros(mean.shape());
  for (int64_t k = 0; k < mean.numel(); ++k) log_mean.f32()[k] = std::log(std::max(mean.f32()[k], 1e-30f));
  nn::Batch all;
  all.tensors["labels"] = Tensor::from_indices({int64_t(labels.size())}, labels);
  const ClassificationTask task = evaluation_task(members[0]);  // the evaluator refers to it
  const std::unique_ptr<train::Evaluator> evaluator = task.evaluator();
  evaluator->add(nn::ModelOutput{Var(log_mean), {}, {}}, all);
  return evaluator->finish();
}

// ---------------------------------------------------------------- commands

namespace {
int train_command(const TrainCommand& cmd) {
  HEED_CHECK(cmd.data.empty(), "train: a text task reads the files named by data.train, data.validation and "
             "data.test (--set data.train=FILE), not --data");
  const TextClassifierConfig config = parse_train_config(cmd, [](const nlohmann::json& json) { return parse_text_classifier_config(json); });
  const std::shared_ptr<train::RunDirectory> run = claim_run_directory(cmd);  // held for the run
  const train::TrainResult r = train_text_classifier(config, cmd.out, cmd.resume);
  if (r.interrupted) return 128 + r.signal;  // the shell's convention: 130 SIGINT, 143 SIGTERM
  std::printf("trained %ld epochs in %.1f s; best validation %s %.4f; checkpoints %s, %s\n", long(r.epochs_done),
              r.seconds, config.data.select_metric.c_str(), r.best_metric, r.best_path.c_str(), r.last_path.c_str());
  if (config.data.input.test.empty()) return 0;
  LoadedTextClassifier m = load_text_classifier(train::read_checkpoint(r.best_path));
  const train::EvalResult e = evaluate_text_file(m, config.data.input.test);
  std::printf("Test set (%s, %ld records), model %s:\n\n%s", config.data.input.test.c_str(),
              long(e.json.value("total", 0)), r.best_path.c_str(), e.text.c_str());
  return 0;
}

void eval_command(const EvalCommand& cmd) {
  std::vector<LoadedTextClassifier> members;
  members.push_back(load_text_classifier(cmd.checkpoint));
  for (const train::Checkpoint& c : cmd.more) members.push_back(load_text_classifier(c));
  const std::string path = cmd.data.empty() ? members[0].config.data.input.test : cmd.data;
  HEED_CHECK(!path.empty(), cmd.checkpoint.path, ": no data.test in its config; give --data FILE");
  const train::EvalResult e =
      members.size() == 1 ? evaluate_text_file(members[0], path) : evaluate_text_ensemble(members, path);
  if (cmd.json) {
    json out = e.json;
    out["checkpoint"] = cmd.checkpoint.path;
    if (!cmd.more.empty()) {
      json all = json::array({cmd.checkpoint.path});
      for (const train::Checkpoint& c : cmd.more) all.push_back(c.path);
      out["ensemble"] = all;
    }
    out["data"] = path;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    if (!cmd.more.empty()) std::printf("Ensemble of %zu checkpoints (mean class probabilities):\n\n", members.size());
    std::printf("%s", e.text.c_str());
  }
}

// Top-k classes of each record of `texts`, with probabilities.
std::vector<json> top_k(LoadedTextClassifier& m, const Texts& texts, int64_t k) {
  const std::vector<std::string>& names = m.config.data.class_names;
  const int64_t classes = int64_t(names.size());
  k = std::min(k, classes);
  const Tensor probs = class_probabilities(
      m, *encode_dataset(m.tokenizer, texts, iota_of(texts.fields.size()), m.config.data.input, {}));
  std::vector<json> out(texts.fields.size());
  for (size_t i = 0; i < texts.fields.size(); ++i) {
    const float* p = probs.f32() + int64_t(i) * classes;
    const std::vector<int64_t> order = metrics::top_k(p, classes, k);
    json top = json::array();
    for (int64_t j = 0; j < k; ++j)
      top.push_back({{"class", order[size_t(j)]}, {"name", names[size_t(order[size_t(j)])]}, {"probability", p[order[size_t(j)]]}});
    out[i] = top;
  }
  return out;
}

void print_prediction(const std::string& where, const json& top, bool as_json, const json& id) {
  if (as_json) {
    json line = {{"top", top}};
    if (!id.is_null()) line["line"] = id;
    std::printf("%s\n", line.dump().c_str());
    return;
  }
  std::printf("%s:", where.c_str());
  for (const json& t : top)
    std::printf("  %s %.4f", t.at("name").get<std::string>().c_str(), t.at("probability").get<double>());
  std::printf("\n");
}

void predict_command(const PredictCommand& cmd) {
  HEED_CHECK(cmd.input.empty() != cmd.text.empty(), "predict: a text classifier takes --text TEXT or --input FILE "
             "(JSONL, CSV, TSV, or .txt with one text a line), one of them");
  LoadedTextClassifier m = load_text_classifier(cmd.checkpoint);
  const TextInputOptions& in = m.config.data.input;
  if (!cmd.text.empty()) {
    Texts one;
    one.fields.emplace_back(in.text_fields.size());
    one.fields[0][0] = data::valid_utf8(cmd.text);
    const json top = top_k(m, one, cmd.top_k)[0];
    print_prediction("text", top, cmd.json, nullptr);
    return;
  }
  const data::TextTable table = data::read_text_table(cmd.input);
  // A .txt file gives each line as the first text field; other formats name the fields.
  TextInputOptions fields_of = in;
  if (table.columns == std::vector<std::string>{"text"} && in.text_fields.size() >= 1) fields_of.text_fields = {"text"};
  Texts texts = read_texts(table, fields_of);
  report_text_fixes(texts);
  for (std::vector<std::string>& f : texts.fields) f.resize(in.text_fields.size());
  const std::vector<json> tops = top_k(m, texts, cmd.top_k);
  for (size_t i = 0; i < tops.size(); ++i)
    print_prediction(cmd.input + ":" + std::to_string(texts.lines[i]), tops[i], cmd.json, texts.lines[i]);
}

void explain_command(const ExplainCommand& cmd) {
  HEED_CHECK(!cmd.text.empty() && cmd.input.empty(), "explain: a text classifier takes --text TEXT");
  LoadedTextClassifier m = load_text_classifier(cmd.checkpoint);
  const TextInputOptions& in = m.config.data.input;
  std::vector<std::string> fields(in.text_fields.size());
  fields[0] = data::valid_utf8(cmd.text);
  // The first window of a windowed classifier: its maps are one sequence's.
  const std::vector<int32_t> ids = encode_fields(m.tokenizer, fields, in);
  const TextDataset one({ids}, {});
  const nn::Batch batch = one.batch({0}, {});
  const interpret::Explanation e =
      interpret::explain(*m.model, batch, {.cls = cmd.cls, .layer = cmd.layer, .head = cmd.head});
  interpret::ExplainSubject s;
  s.input = cmd.text;
  for (int32_t id : ids) s.tokens.push_back(m.tokenizer.piece(id));
  s.class_names = m.config.data.class_names;
  s.mean_pooled = m.config.model.encoder.pooling == "mean";
  interpret::write_explanation(cmd.out, e, s);
  std::printf("predicted %s (%.4f); explanation in %s (overlay.png, heads.png, attention.json, "
              "relevance.json, index.html)\n",
              s.class_names[size_t(e.predicted)].c_str(), double(e.probabilities[size_t(e.predicted)]),
              cmd.out.c_str());
}
}  // namespace

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_text_classifier(checkpoint).model;
}

PruneSubject prune_subject(const train::Checkpoint& checkpoint, const std::string& data, const std::string& split) {
  LoadedTextClassifier m = load_text_classifier(checkpoint);
  auto test_path = [&] {
    HEED_CHECK(!m.config.data.input.test.empty(), checkpoint.path, ": no data.test in its config; give --data FILE");
    return m.config.data.input.test;
  };
  const std::string path =
      prune_data_path(data, split, m.config.data.input.train, test_path, "a text classifier", "data.test");
  const Split records = read_labelled(path, m.config.data, m.config.data.class_names);
  std::unique_ptr<TextDataset> text = encode_records(m, records);
  train::ShuffledBatches plan = eval_plan(*text, m.config.data.input.eval_batch_size);
  auto task = std::make_unique<ClassificationTask>(evaluation_task(m));  // before m.model moves
  return prune_subject_of(std::move(m.model), std::move(task), std::move(text), std::move(plan));
}
}  // namespace

const TaskEntry& text_classification_entry() {
  static const TaskEntry entry{kTextClassification, "a Transformer text encoder on JSONL/CSV/TSV records",
                               train_command, eval_command, predict_command, explain_command, true, false, module_of,
                               prune_subject};
  return entry;
}

}  // namespace heed::tasks
