#include "heed/tasks/sequential_recommendation.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <cstdio>
#include <map>
#include <numeric>

#include "heed/core/rng.h"
#include "heed/data/text_table.h"
#include "heed/metrics/ranking.h"
#include "heed/ops/ops.h"
#include "heed/tasks/next_token.h"
#include "heed/tasks/recommendation_eval.h"
#include "heed/train/config_json.h"
#include "heed/train/resources.h"

namespace heed::tasks {

using nlohmann::json;

SequentialRecommendationConfig parse_sequential_recommendation_config(const json& j) {
  const auto c = train::read_task_config<SequentialRecommendationConfig>(j, kSequentialRecommendation);
  check_ranking_metric(c.data.select_metric);
  HEED_CHECK(c.train.label_smoothing == 0.f || c.model.loss == "ce", "train.label_smoothing = ",
             c.train.label_smoothing, " applies to model.loss = \"ce\" only; model.loss is \"", c.model.loss, "\"");
  return c;
}

namespace {
json config_json(const SequentialRecommendationConfig& c, bool result_only) {
  return train::task_config_json(kSequentialRecommendation, c, result_only);
}

std::vector<int32_t> sorted_unique(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<int64_t> iota_of(size_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

json to_json(const SequentialRecommendationConfig& c) { return config_json(c, false); }

// ---------------------------------------------------------------- data

SequenceWindows::SequenceWindows(const std::vector<std::vector<int32_t>>& train, int64_t items, int64_t max_len,
                                 bool all_windows, bool negatives)
    : train_(train), items_(items), negatives_(negatives) {
  for (size_t u = 0; u < train.size(); ++u) {
    seen_.push_back(sorted_unique(train[u]));
    // pairs (train[i], train[i + 1]) for i in [0, n - 1): windows of max_len, the newest first
    for (int64_t end = int64_t(train[u].size()) - 1; end > 0; end -= max_len) {
      const int64_t begin = std::max<int64_t>(0, end - max_len);
      windows_.push_back({int64_t(u), begin, end - begin});
      if (!all_windows) break;
    }
  }
  HEED_CHECK(!windows_.empty(), "sequential recommendation: no user has two training items to learn a next item from");
}

std::vector<int64_t> SequenceWindows::lengths() const {
  std::vector<int64_t> out;
  for (const Window& w : windows_) out.push_back(w.length);
  return out;
}

int64_t SequenceWindows::pairs() const {
  int64_t n = 0;
  for (const Window& w : windows_) n += w.length;
  return n;
}

nn::Batch SequenceWindows::batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const {
  const int64_t b = int64_t(indices.size());
  int64_t t = 1;
  for (int64_t i : indices) t = std::max(t, windows_[size_t(i)].length);
  Tensor items = Tensor::zeros({b, t}, DType::I64), next = Tensor::zeros({b, t}, DType::I64);
  Tensor lengths = Tensor::zeros({b}, DType::I64), negatives = Tensor::zeros({b, t}, DType::I64);
  const uint64_t seed = context.seed ^ 0x6e65676174697665ull;  // "negative": its own stream
  for (int64_t r = 0; r < b; ++r) {
    const Window& w = windows_[size_t(indices[size_t(r)])];
    const std::vector<int32_t>& s = train_[size_t(w.user)];
    const std::vector<int32_t>& seen = seen_[size_t(w.user)];
    lengths.i64()[r] = w.length;
    for (int64_t p = 0; p < w.length; ++p) {
      items.i64()[r * t + p] = s[size_t(w.begin + p)];
      next.i64()[r * t + p] = s[size_t(w.begin + p + 1)];
      if (!negatives_ || int64_t(seen.size()) >= items_) continue;
      // A negative outside the user's training items, by rejection (a user has seen few of them).
      const uint64_t key = ((uint64_t(context.epoch) * uint64_t(size()) + uint64_t(indices[size_t(r)])) << 20 |
                            uint64_t(p)) << 8;
      for (uint64_t attempt = 0;; ++attempt) {
        const int32_t j = int32_t(1 + random_bits(seed, key + attempt) % uint64_t(items_));
        if (std::binary_search(seen.begin(), seen.end(), j)) continue;
        negatives.i64()[r * t + p] = j;
        break;
      }
    }
  }
  nn::Batch out;
  out.tensors = {{"items", items}, {"lengths", lengths}, {"next_items", next}};
  if (negatives_) out.tensors["negatives"] = negatives;
  out.indices = indices;
  return out;
}

LeaveOneOutData read_leave_one_out(const SequenceData& d, const std::string& path) {
  const data::TextTable table = data::read_text_table(path);
  const data::InteractionLog log = data::read_interactions(table, {d.user_column, d.item_column, d.time_column});
  LeaveOneOutData out{data::build_sequences(log, {d.min_user_interactions, d.min_item_interactions}), {}, {}};
  HEED_CHECK(!out.sequences.sequences.empty(), path, ": no user has ", d.min_user_interactions,
             " interactions (data.min_user_interactions) after filtering");
  for (const std::vector<int32_t>& s : out.sequences.sequences) {
    out.train.push_back(data::LeaveOneOut{s}.train());
    out.seen.push_back(sorted_unique(s));
  }
  std::fprintf(stderr, "%s: %ld users, %ld items, %ld interactions; dropped %ld duplicate rows, %ld users and %ld "
               "items (data.min_user_interactions = %ld, data.min_item_interactions = %ld)\n",
               path.c_str(), long(out.sequences.sequences.size()), long(out.sequences.items()),
               long(out.sequences.interactions()), long(out.sequences.duplicates), long(out.sequences.dropped_users),
               long(out.sequences.dropped_items), long(d.min_user_interactions), long(d.min_item_interactions));
  return out;
}

std::unique_ptr<RankingQueries> ranking_queries(const LeaveOneOutData& d, Split split, int64_t max_len,
                                                int64_t negatives, uint64_t seed) {
  std::vector<std::vector<int32_t>> inputs;
  std::vector<int32_t> targets;
  for (const std::vector<int32_t>& s : d.sequences.sequences) {
    const data::LeaveOneOut l{s};
    inputs.push_back(split == Split::Validation ? l.validation_input() : l.test_input());
    targets.push_back(split == Split::Validation ? l.validation_target() : l.test_target());
  }
  return std::make_unique<RankingQueries>(std::move(inputs), std::move(targets), d.seen, d.sequences.items(), max_len,
                                          negatives, seed, split == Split::Validation ? 1 : 2);
}

// ---------------------------------------------------------------- task

double SequentialRecommendationTask::target_weight(const nn::Batch& batch) const {
  const Tensor& next = batch.at("next_items");
  int64_t n = 0;
  for (int64_t i = 0; i < next.numel(); ++i) n += next.i64()[i] != 0;
  return double(n);
}

Var SequentialRecommendationTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  const Tensor targets = nn::take(batch.at("next_items"), nn::nonzero_positions(batch.at("next_items")));
  if (loss_ == "ce") return output_cross_entropy(output, targets, label_smoothing_);
  // BCE with logits: -log sigmoid(pos) - log(1 - sigmoid(neg)) per position, as two-class
  // cross-entropies over [0, score] (target 1 for the next item, 0 for the negative).
  const int64_t m = targets.numel();
  Var zeros(Tensor::zeros({m, 1}));
  Var positive = concat({zeros, slice(output.logits, 1, 0, 1)}, 1);
  Var negative = concat({zeros, slice(output.logits, 1, 1, 2)}, 1);
  std::vector<int64_t> labels(size_t(2 * m), 0);
  std::fill(labels.begin(), labels.begin() + m, 1);
  // The mean over 2M two-class rows, times 2: the paper's per-position sum of both terms.
  return scale(cross_entropy(concat({positive, negative}, 0), Tensor::from_indices({2 * m}, labels)), 2.f);
}

std::unique_ptr<train::Evaluator> SequentialRecommendationTask::evaluator() const {
  return std::make_unique<RankingEvaluator>(metric_);
}

// ---------------------------------------------------------------- training

namespace {
std::string raw_items_metadata(const data::UserSequences& s) { return json(s.raw_items).dump(); }

}  // namespace

train::TrainResult train_sequential_recommendation(const SequentialRecommendationConfig& config_in,
                                                   const std::string& out_dir, bool resume) {
  SequentialRecommendationConfig config = config_in;
  train::apply_threads(config.train);
  const LeaveOneOutData d = read_leave_one_out(config.data, config.data.train);
  config.model.items = d.sequences.items();
  config.model.validate();
  const nn::SasRecConfig& m = config.model;
  const int64_t batch = train::batch_rows(config.train, m.max_len), rows = batch * m.max_len;
  train::check_training_memory(
      {m.parameter_count(),
       nn::encoder_activation_floats(batch, m.max_len, m.dim, m.depth, m.heads, m.mlp_hidden()) +
           // the picked hidden states and their gradient; CE's logits are made in chunks
           // (linear_cross_entropy: two scratch chunks), BCE's are two per position
           4 * rows * m.dim + (m.loss == "ce" ? 2 * (int64_t{8} << 20) / 4 : 4 * rows),
       train::replica_count(config.train)},
      "model.dim, model.depth, model.max_len, train.batch_size or batch_tokens");

  const SequenceWindows train_data(d.train, m.items, m.max_len, config.data.windows == "all", m.loss == "bce");
  const std::unique_ptr<RankingQueries> val_data =
      ranking_queries(d, Split::Validation, m.max_len, config.data.negatives, config.train.seed);
  nn::SasRec model(m, config.train.seed);
  const SequentialRecommendationTask task(m.loss, config.data.select_metric, config.train.label_smoothing);
  const std::unique_ptr<train::BatchPlan> plan =
      train::training_plan(iota_of(size_t(train_data.size())), train_data.lengths(), config.train,
                           config.data.bucket_batches);
  const train::ShuffledBatches val_plan(iota_of(size_t(val_data->size())), config.data.eval_batch_size, false, false,
                                        0);
  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = &task;
  setup.train_data = &train_data;
  setup.train_plan = plan.get();
  setup.validation_data = val_data.get();
  setup.validation_plan = &val_plan;
  setup.meta = {kSequentialRecommendation, model.type(), to_json(config), {}, json::object(),
                {{"items", raw_items_metadata(d.sequences)}}};
  setup.resume_view = [](const json& stored) {
    return config_json(parse_sequential_recommendation_config(stored), true);
  };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[320];
  std::snprintf(summary, sizeof summary, "SASRec (%s loss): %ld parameters, %ld items; %ld users, %ld training "
                "windows, %ld next-item pairs", m.loss.c_str(), long(model.parameter_count()), long(m.items),
                long(d.train.size()), long(train_data.size()), long(train_data.pairs()));
  setup.summary = summary;
  return train::fit(setup);
}

// ---------------------------------------------------------------- commands

namespace {
struct LoadedSasRec {
  std::unique_ptr<nn::SasRec> model;
  SequentialRecommendationConfig config;
  std::vector<int64_t> raw_items;  // dense id -> raw id
};

LoadedSasRec load_sasrec(const train::Checkpoint& ckpt) {
  HEED_CHECK(ckpt.meta.task == kSequentialRecommendation, ckpt.path, ": a checkpoint of task '", ckpt.meta.task,
             "', not ", kSequentialRecommendation);
  LoadedSasRec out;
  try {
    out.config = parse_sequential_recommendation_config(ckpt.meta.config);
    out.config.model.validate();
    const auto items = ckpt.meta.extra.find("items");
    HEED_CHECK(items != ckpt.meta.extra.end(), "no \"items\" (the item id mapping)");
    out.raw_items = json::parse(items->second).get<std::vector<int64_t>>();
    HEED_CHECK(int64_t(out.raw_items.size()) == out.config.model.items + 1, "\"items\" maps ", out.raw_items.size(),
               " ids, model.items + 1 = ", out.config.model.items + 1);
  } catch (const Error& e) {
    detail::fail(ckpt.path, ": metadata ", e.what());
  } catch (const json::exception& e) {
    detail::fail(ckpt.path, ": metadata \"items\": ", e.what());
  }
  out.model = std::make_unique<nn::SasRec>(out.config.model, 0);
  train::load_for_inference(*out.model, ckpt);
  return out;
}

// `d` re-expressed in the checkpoint's dense ids: items the model does not know are removed
// (counted), users left with fewer than 3 items dropped (counted).
void map_to_checkpoint(LeaveOneOutData& d, const std::vector<int64_t>& raw_items, const std::string& path) {
  if (d.sequences.raw_items == raw_items) return;
  std::map<int64_t, int32_t> dense;
  for (size_t i = 1; i < raw_items.size(); ++i) dense[raw_items[i]] = int32_t(i);
  LeaveOneOutData out;
  out.sequences.raw_items = raw_items;
  int64_t unknown = 0, dropped = 0;
  for (size_t u = 0; u < d.sequences.sequences.size(); ++u) {
    std::vector<int32_t> s;
    for (int32_t item : d.sequences.sequences[u]) {
      const auto it = dense.find(d.sequences.raw_items[size_t(item)]);
      if (it == dense.end()) {
        ++unknown;
        continue;
      }
      s.push_back(it->second);
    }
    if (s.size() < 3) {
      ++dropped;
      continue;
    }
    out.sequences.users.push_back(d.sequences.users[u]);
    out.train.push_back(data::LeaveOneOut{s}.train());
    out.seen.push_back(sorted_unique(s));
    out.sequences.sequences.push_back(std::move(s));
  }
  std::fprintf(stderr, "%s: %ld interactions with items the checkpoint does not know were left out; %ld users were "
               "left with fewer than 3 items and dropped\n", path.c_str(), long(unknown), long(dropped));
  HEED_CHECK(!out.sequences.sequences.empty(), path, ": no user has 3 items the checkpoint knows");
  d = std::move(out);
}

struct Row {
  std::string model, split;
  train::EvalResult result;
};

std::string table(const std::vector<Row>& rows) {
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-8s %-10s %-8s %6s", "model", "split", "protocol", "users");
  out += line;
  for (const char* what : {"HR", "NDCG"})
    for (int64_t k : kRankingCutoffs) {
      std::snprintf(line, sizeof line, " %8s", (std::string(what) + "@" + std::to_string(k)).c_str());
      out += line;
    }
  out += "      MRR\n";
  for (const Row& r : rows)
    for (const char* protocol : {"full", "sampled"}) {
      const json& p = r.result.json.at(protocol);
      std::snprintf(line, sizeof line, "%-8s %-10s %-8s %6ld", r.model.c_str(), r.split.c_str(), protocol,
                    long(r.result.json.at("users").get<int64_t>()));
      out += line;
      for (const char* what : {"hr@", "ndcg@"})
        for (int64_t k : kRankingCutoffs) {
          std::snprintf(line, sizeof line, " %8.4f", p.at(what + std::to_string(k)).get<double>());
          out += line;
        }
      std::snprintf(line, sizeof line, " %8.4f\n", p.at("mrr").get<double>());
      out += line;
    }
  return out;
}

int train_command(const TrainCommand& cmd) {
  HEED_CHECK(cmd.data.empty(), "train: sequential recommendation reads the log named by data.train (--set "
             "data.train=FILE), not --data");
  const auto config = parse_train_config(cmd, [](const json& j) { return parse_sequential_recommendation_config(j); });
  const std::shared_ptr<train::RunDirectory> run = claim_run_directory(cmd);  // held for the run
  const train::TrainResult r = train_sequential_recommendation(config, cmd.out, cmd.resume);
  if (r.interrupted) return 128 + r.signal;
  std::printf("trained %ld epochs in %.1f s; best validation %s %.4f; checkpoints %s, %s\n", long(r.epochs_done),
              r.seconds, config.data.select_metric.c_str(), r.best_metric, r.best_path.c_str(), r.last_path.c_str());
  return 0;
}

void eval_command(const EvalCommand& cmd) {
  LoadedSasRec m = load_sasrec(cmd.checkpoint);
  const SequenceData& data = m.config.data;
  const std::string path = cmd.data.empty() ? data.train : cmd.data;
  LeaveOneOutData d = read_leave_one_out(data, path);
  map_to_checkpoint(d, m.raw_items, path);
  auto counts = std::make_shared<const InteractionCounts>(count_interactions(d.train, d.sequences.items()));
  CountBaseline popular("popular", counts, m.config.train.seed), markov("markov", counts, m.config.train.seed);
  const SequentialRecommendationTask task(m.config.model.loss, data.select_metric, m.config.train.label_smoothing);
  std::vector<Row> rows;
  for (Split split : {Split::Validation, Split::Test}) {
    const auto queries = ranking_queries(d, split, m.config.model.max_len, data.negatives, m.config.train.seed);
    const train::ShuffledBatches plan(iota_of(size_t(queries->size())), data.eval_batch_size, false, false, 0);
    const char* name = split == Split::Validation ? "validation" : "test";
    for (nn::Model* model : std::initializer_list<nn::Model*>{m.model.get(), &popular, &markov})
      rows.push_back({model->type(), name, train::evaluate(*model, task, *queries, plan)});
  }
  if (cmd.json) {
    json out = {{"checkpoint", cmd.checkpoint.path}, {"data", path}, {"negatives", data.negatives},
                {"results", json::array()}};
    for (const Row& r : rows) {
      json j = r.result.json;
      j["model"] = r.model;
      j["split"] = r.split;
      out["results"].push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("%s: %ld users, %ld items; sampled = the target among %ld unseen items drawn uniformly (seed %lu), "
              "full = among every item not in the user's input\n",
              path.c_str(), long(d.sequences.sequences.size()), long(d.sequences.items()), long(data.negatives),
              (unsigned long)m.config.train.seed);
  std::printf("%s", table(rows).c_str());
}

void predict_command(const PredictCommand&) {
  detail::fail("predict: a sequential recommender is asked with `heed recommend --checkpoint C --history ID,ID,...`");
}
}  // namespace

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_sasrec(checkpoint).model;
}
}  // namespace

const TaskEntry& sequential_recommendation_entry() {
  static const TaskEntry entry{kSequentialRecommendation, "next-item recommendation (SASRec) from an interaction log",
                               train_command, eval_command, predict_command, nullptr, false, false, module_of};
  return entry;
}

}  // namespace heed::tasks

namespace heed::tasks {

namespace {
// Raw ids from "318, 296,593": each must be an integer; errors name the value.
std::vector<int64_t> parse_history(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string id = text.substr(start, comma - start);
    id.erase(0, id.find_first_not_of(" \t"));
    id.erase(id.find_last_not_of(" \t") + 1);
    if (!id.empty()) {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
      HEED_CHECK(ec == std::errc() && end == id.data() + id.size(), "recommend: --history: '", id,
                 "' is not an integer item id");
      out.push_back(v);
    }
    start = comma + 1;
  }
  HEED_CHECK(!out.empty(), "recommend: --history is empty; give item ids like --history 318,296,593");
  return out;
}

// Raw item id -> "Title (year)" from a table with the item column and a title column.
std::map<int64_t, std::string> read_titles(const std::string& path, const SequenceData& d) {
  std::map<int64_t, std::string> out;
  if (path.empty()) return out;
  const data::TextTable table = data::read_text_table(path);
  const bool has_year = std::find(table.columns.begin(), table.columns.end(), "year") != table.columns.end();
  for (const data::TextRecord& r : table.records) {
    const std::string& id = data::field_of(table, r, d.item_column);
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
    if (ec != std::errc() || end != id.data() + id.size()) continue;
    std::string title = data::field_of(table, r, d.title_column);
    if (has_year && !r.fields.at("year").empty() && r.fields.at("year") != "NA")
      title += " (" + r.fields.at("year") + ")";
    out[v] = title;
  }
  return out;
}
}  // namespace

void recommend(const RecommendCommand& cmd) {
  LoadedSasRec m = load_sasrec(cmd.checkpoint);
  const SequenceData& d = m.config.data;
  HEED_CHECK(cmd.history.empty() != cmd.user.empty(), "recommend: give --history ID,ID,... or --user ID");
  std::map<int64_t, int32_t> dense;
  for (size_t i = 1; i < m.raw_items.size(); ++i) dense[m.raw_items[i]] = int32_t(i);
  std::vector<int32_t> history;
  if (!cmd.history.empty()) {
    std::vector<int64_t> unknown;
    for (int64_t raw : parse_history(cmd.history)) {
      const auto it = dense.find(raw);
      if (it == dense.end())
        unknown.push_back(raw);
      else
        history.push_back(it->second);
    }
    if (!unknown.empty()) {
      std::string list;
      for (int64_t u : unknown) list += (list.empty() ? "" : ",") + std::to_string(u);
      std::fprintf(stderr, "recommend: skipped %zu item id(s) the checkpoint does not know: %s\n", unknown.size(),
                   list.c_str());
    }
    HEED_CHECK(!history.empty(), "recommend: no item of --history is known to ", cmd.checkpoint.path);
  } else {
    const std::string path = cmd.data.empty() ? d.train : cmd.data;
    int64_t user = 0;
    const auto [end, ec] = std::from_chars(cmd.user.data(), cmd.user.data() + cmd.user.size(), user);
    HEED_CHECK(ec == std::errc() && end == cmd.user.data() + cmd.user.size(), "recommend: --user '", cmd.user,
               "' is not an integer user id");
    const data::TextTable table = data::read_text_table(path);
    data::InteractionLog log = data::read_interactions(table, {d.user_column, d.item_column, d.time_column});
    for (const data::Interaction& r : log.rows)  // sorted by (user, time, item)
      if (r.user == user) {
        const auto it = dense.find(r.item);
        if (it != dense.end()) history.push_back(it->second);
      }
    HEED_CHECK(!history.empty(), path, ": user ", user, " has no interaction with an item the checkpoint knows");
  }
  const int64_t len = std::min<int64_t>(int64_t(history.size()), m.config.model.max_len);
  std::vector<int64_t> input(history.end() - len, history.end());
  nn::Batch batch;
  batch.tensors = {{"items", Tensor::from_indices({1, len}, input)}, {"lengths", Tensor::from_indices({1}, {len})}};
  Tensor scores;
  {
    NoGradGuard no_grad;
    scores = m.model->forward(batch).logits.value();
  }
  float* s = scores.f32();
  s[0] = -std::numeric_limits<float>::infinity();
  for (int32_t item : history) s[item] = -std::numeric_limits<float>::infinity();
  const int64_t columns = scores.size(1);
  const int64_t k = std::min<int64_t>(cmd.top_k, columns - 1 - int64_t(sorted_unique(history).size()));
  const std::vector<int64_t> top = metrics::top_k(s, columns, std::max<int64_t>(k, 0));
  const std::map<int64_t, std::string> titles = read_titles(cmd.titles.empty() ? d.titles : cmd.titles, d);
  json out = json::array();
  for (size_t i = 0; i < top.size(); ++i) {
    const int64_t raw = m.raw_items[size_t(top[i])];
    const auto t = titles.find(raw);
    const std::string title = t == titles.end() ? "" : t->second;
    out.push_back({{"rank", i + 1}, {"item", raw}, {"score", s[top[i]]}, {"title", title}});
    if (!cmd.json) std::printf("%2zu. %-8ld %8.3f  %s\n", i + 1, long(raw), double(s[top[i]]), title.c_str());
  }
  if (cmd.json) std::printf("%s\n", json{{"history", history.size()}, {"recommendations", out}}.dump().c_str());
}

}  // namespace heed::tasks
