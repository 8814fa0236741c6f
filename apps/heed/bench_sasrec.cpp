// heed bench sasrec: one training epoch of a sequential-recommendation config (the batches
// `heed train` makes in epoch 0, stepped as the trainer steps them) and full-ranking scoring of
// every user (the test queries' scores over all items). --save-batches writes those batches and
// queries so that bench/compare_pytorch.py sasrec times PyTorch's SASRec on exactly the same
// shapes; --batches reads them back.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/io/atomic_file.h"
#include "heed/optim/adamw.h"
#include "heed/tasks/sequential_recommendation.h"
#include "heed/train/batch_loader.h"
#include "heed/train/config_json.h"
#include "heed/train/data_parallel.h"

namespace heed::cli {

namespace {
using nlohmann::json;

struct SasRecBenchArgs {
  std::string config, save_batches, batches;
  int threads = 0;
  bool json = false;
};

struct Work {
  int64_t items = 0;
  std::vector<nn::Batch> train, score;
};

Work prepare(const tasks::SequentialRecommendationConfig& c) {
  const tasks::LeaveOneOutData d = tasks::read_leave_one_out(c.data, c.data.train);
  Work w;
  w.items = d.sequences.items();
  const tasks::SequenceWindows windows(d.train, w.items, c.model.max_len, c.data.windows == "all",
                                       c.model.loss == "bce");
  std::vector<int64_t> all(size_t(windows.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
  const train::LengthBucketedBatches plan(all, windows.lengths(), c.train.batch_size, false, c.train.seed,
                                          std::max<int64_t>(c.data.bucket_batches, 1));
  for (const std::vector<int64_t>& b : plan.epoch(0)) w.train.push_back(windows.batch(b, {0, c.train.seed, true}));
  const auto queries = tasks::ranking_queries(d, tasks::Split::Test, c.model.max_len, 1, c.train.seed);
  for (int64_t r0 = 0; r0 < queries->size(); r0 += c.data.eval_batch_size) {
    std::vector<int64_t> rows;
    for (int64_t r = r0; r < std::min(queries->size(), r0 + c.data.eval_batch_size); ++r) rows.push_back(r);
    nn::Batch b = queries->batch(rows, {});
    w.score.push_back({{{"items", b.at("items")}, {"lengths", b.at("lengths")}}, rows});
  }
  return w;
}

json rows_of(const Tensor& t) {
  json out = json::array();
  const int64_t width = t.dim() == 2 ? t.size(1) : 1;
  for (int64_t r = 0; r < t.size(0); ++r)
    out.push_back(std::vector<int64_t>(t.i64() + r * width, t.i64() + (r + 1) * width));
  return out;
}

json to_json(const Work& w) {
  json train = json::array(), score = json::array();
  for (const nn::Batch& b : w.train) {
    json j = {{"items", rows_of(b.at("items"))}, {"next_items", rows_of(b.at("next_items"))}};
    if (b.has("negatives")) j["negatives"] = rows_of(b.at("negatives"));
    train.push_back(j);
  }
  for (const nn::Batch& b : w.score) score.push_back({{"items", rows_of(b.at("items"))}});
  return {{"items", w.items}, {"train", train}, {"score", score}};
}

Tensor tensor_of(const json& rows, const std::string& what) {
  const auto r = rows.get<std::vector<std::vector<int64_t>>>();
  HEED_CHECK(!r.empty() && !r[0].empty(), "an empty ", what);
  Tensor t = Tensor::empty({int64_t(r.size()), int64_t(r[0].size())}, DType::I64);
  for (size_t i = 0; i < r.size(); ++i) {
    HEED_CHECK(r[i].size() == r[0].size(), what, ": rows of different widths");
    std::copy(r[i].begin(), r[i].end(), t.i64() + int64_t(i * r[0].size()));
  }
  return t;
}

// Lengths of right-padded rows: up to the last non-zero item.
Tensor lengths_of(const Tensor& items) {
  const int64_t b = items.size(0), t = items.size(1);
  std::vector<int64_t> out(size_t(b), 0);
  for (int64_t r = 0; r < b; ++r)
    for (int64_t p = 0; p < t; ++p)
      if (items.i64()[r * t + p] != 0) out[size_t(r)] = p + 1;
  return Tensor::from_indices({b}, out);
}

Work from_json(const json& j, const std::string& path) {
  Work w;
  try {
    w.items = j.at("items").get<int64_t>();
    for (const json& b : j.at("train")) {
      nn::Batch batch;
      Tensor items = tensor_of(b.at("items"), "items");
      batch.tensors = {{"items", items}, {"lengths", lengths_of(items)},
                       {"next_items", tensor_of(b.at("next_items"), "next_items")}};
      if (b.contains("negatives")) batch.tensors["negatives"] = tensor_of(b.at("negatives"), "negatives");
      w.train.push_back(batch);
    }
    for (const json& b : j.at("score")) {
      Tensor items = tensor_of(b.at("items"), "items");
      w.score.push_back({{{"items", items}, {"lengths", lengths_of(items)}}, {}});
    }
  } catch (const json::exception& e) {
    detail::fail(path, ": not a batches file of heed bench sasrec --save-batches: ", e.what());
  } catch (const Error& e) {
    detail::fail(path, ": ", e.what());
  }
  HEED_CHECK(!w.train.empty() && !w.score.empty(), path, ": no batches");
  return w;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(const SasRecBenchArgs& a) {
  tasks::SequentialRecommendationConfig c =
      tasks::parse_sequential_recommendation_config(train::read_json_file(a.config));
  if (a.threads > 0) set_num_threads(a.threads);
  const Work w = a.batches.empty() ? prepare(c) : from_json(train::read_json_file(a.batches), a.batches);
  if (!a.save_batches.empty()) {
    const std::string text = to_json(w).dump();
    io::write_file_atomic(a.save_batches, std::as_bytes(std::span(text.data(), text.size())));
  }
  c.model.items = w.items;
  nn::SasRec model(c.model, 1);
  optim::AdamW optimizer(optim::make_params(model.named_parameters()));
  train::DataParallel parallel(model, c.train.replicas > 0 ? c.train.replicas : num_threads());
  const tasks::SequentialRecommendationTask task(c.model.loss, c.data.select_metric);
  int64_t pairs = 0, users = 0;
  for (const nn::Batch& b : w.train) pairs += int64_t(task.target_weight(b));
  for (const nn::Batch& b : w.score) users += b.size();
  model.train();
  parallel.train_step(w.train.front(), task);  // warm-up
  optimizer.zero_grad();
  auto t0 = std::chrono::steady_clock::now();
  for (const nn::Batch& b : w.train) {
    parallel.train_step(b, task);
    optimizer.step();
    optimizer.zero_grad();
  }
  const double train_s = seconds_since(t0);
  model.eval();
  parallel.predict(w.score.front());
  t0 = std::chrono::steady_clock::now();
  for (const nn::Batch& b : w.score) parallel.predict(b);
  const double score_s = seconds_since(t0);
  if (a.json) {
    std::printf("%s\n", json{{"config", a.config}, {"threads", num_threads()}, {"items", w.items},
                             {"parameters", model.parameter_count()}, {"train_batches", w.train.size()},
                             {"pairs", pairs}, {"users", users}, {"epoch_seconds", train_s},
                             {"score_seconds", score_s}, {"pairs_per_s", double(pairs) / train_s},
                             {"users_per_s", double(users) / score_s}}.dump().c_str());
    return;
  }
  std::printf("SASRec %s (%s loss, %ld parameters, %ld items), %d threads: one epoch of %zu batches (%ld next-item "
              "pairs) in %.2f s (%.0f pairs/s); full-ranking scores of %ld users in %.3f s\n",
              a.config.c_str(), c.model.loss.c_str(), long(model.parameter_count()), long(w.items), num_threads(),
              w.train.size(), long(pairs), train_s, double(pairs) / train_s, long(users), score_s);
}
}  // namespace

void register_bench_sasrec(CLI::App& bench) {
  static SasRecBenchArgs a;
  auto* cmd = bench.add_subcommand("sasrec", "One SASRec training epoch and full-ranking scoring of every user");
  cmd->add_option("--config", a.config, "JSON config (its data.train log is read)")->required();
  cmd->add_option("--save-batches", a.save_batches, "write the epoch's batches and the scoring inputs as JSON");
  cmd->add_option("--batches", a.batches, "time the batches of a --save-batches file instead");
  cmd->add_option("--threads", a.threads, "threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 4096));
  cmd->add_flag("--json", a.json, "print JSON (epoch_seconds, score_seconds, pairs_per_s, users_per_s)");
  cmd->callback([] { run(a); });
}

}  // namespace heed::cli
