#include "heed/train/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "heed/core/parallel.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"
#include "heed/optim/parameter_average.h"
#include "heed/optim/schedule.h"
#include "heed/optim/sgd.h"
#include "heed/train/data_parallel.h"
#include "heed/train/progress.h"

namespace heed::train {

using nlohmann::json;

namespace {
std::atomic<int> g_signal{0};  // lock-free, so safe to set from a signal handler
static_assert(std::atomic<int>::is_always_lock_free);
void on_signal(int signal) { g_signal = signal; }

// Catches SIGINT (Ctrl-C) and SIGTERM (what batch schedulers, systemd and container runtimes
// send) for the lifetime of a training run: the loop saves at the exact step and returns.
class InterruptScope {
 public:
  InterruptScope() : int_(std::signal(SIGINT, on_signal)), term_(std::signal(SIGTERM, on_signal)) { g_signal = 0; }
  ~InterruptScope() {
    std::signal(SIGINT, int_);
    std::signal(SIGTERM, term_);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*int_)(int);
  void (*term_)(int);
};

// A test's fail point (tests/tasks/image_classification_test.cpp): HEED_SIGNAL_AT_STEP=N raises
// SIGINT right after global step N, as a Ctrl-C would land mid-epoch, but at a chosen step
// instead of a timed instant that a loaded machine moves. Unset in normal use (-1).
int64_t signal_at_step() {
  const char* armed = std::getenv("HEED_SIGNAL_AT_STEP");
  return armed ? std::strtoll(armed, nullptr, 10) : -1;
}

const char* signal_name(int signal) { return signal == SIGTERM ? "SIGTERM" : "SIGINT"; }

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, nn::Module& model) {
  std::vector<optim::Param> params = optim::make_params(model.named_parameters());
  if (o.optimizer == "sgd") {
    optim::SgdOptions s;
    s.lr = o.lr;
    s.momentum = float(o.momentum);
    s.weight_decay = float(o.weight_decay);
    return std::make_unique<optim::Sgd>(std::move(params), s);
  }
  optim::AdamWOptions a;
  a.lr = o.lr;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  a.weight_decay = o.weight_decay;
  return std::make_unique<optim::AdamW>(std::move(params), a);
}

// With train.ema_decay, checkpoints hold the averaged weights as the model (what validation
// measured, what eval and predict should use: Marian does the same) and the trained weights,
// which a resume continues from, beside the optimiser's state under this prefix.
constexpr const char* kUnaveraged = "unaveraged";

// Over the optimiser's parameter list, so both see the same parameters in the same order.
std::unique_ptr<optim::ParameterAverage> make_average(const TrainOptions& o, const optim::Optimizer& optimizer) {
  if (o.ema_decay == 0) return nullptr;
  return std::make_unique<optim::ParameterAverage>(optimizer.params(), o.ema_decay);
}

// Runs `f` with the averaged weights in the model (when averaging is on), then puts the trained
// ones back.
template <class F>
void with_average(optim::ParameterAverage* average, F&& f) {
  if (average) average->swap();
  try {
    f();
  } catch (...) {
    if (average) average->swap();
    throw;
  }
  if (average) average->swap();
}

void append_jsonl(const std::string& path, const json& line) {
  std::ofstream out(path, std::ios::app);
  HEED_CHECK(out, path, ": cannot open the metrics log for writing");
  out << line.dump() << "\n";
  out.flush();
  HEED_CHECK(out, path, ": cannot write the metrics log");
}

bool better(const Task& task, double value, const TrainerState& state) {
  if (!state.has_best) return true;
  return task.higher_is_better() ? value > state.best_metric : value < state.best_metric;
}

const char* non_finite_name(float v) { return std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf"; }

// Loads the parameters of `path` whose names and shapes match into `model`; says what it did.
void initialise_from(nn::Model& model, const std::string& path) {
  const Checkpoint ckpt = read_checkpoint(path);
  int64_t loaded = 0, kept = 0;
  for (auto& [name, var] : model.named_parameters()) {
    auto it = ckpt.model.find(name);
    if (it == ckpt.model.end() || it->second.shape() != var->value().shape() ||
        it->second.dtype() != var->value().dtype()) {
      ++kept;
      continue;
    }
    var->value().copy_(it->second);
    ++loaded;
  }
  HEED_CHECK(loaded > 0, path, ": train.init_from: no parameter of this model has a match (by name and "
             "shape) in that checkpoint (task ", ckpt.meta.task, ", model ", ckpt.meta.model, ")");
  std::fprintf(stderr, "initialised %ld parameter tensors from %s (%ld keep their initialisation)\n",
               long(loaded), path.c_str(), long(kept));
}
}  // namespace

std::string config_differences(const json& stored, const json& current) {
  std::string out;
  const json patch = json::diff(stored, current);
  for (const json& op : patch) {
    std::string key = op.at("path").get<std::string>();
    if (!key.empty() && key[0] == '/') key = key.substr(1);
    for (char& c : key)
      if (c == '/') c = '.';
    const json::json_pointer pointer(op.at("path").get<std::string>());
    const std::string was = stored.contains(pointer) ? stored.at(pointer).dump() : "(absent)";
    const std::string now = current.contains(pointer) ? current.at(pointer).dump() : "(absent)";
    out += (out.empty() ? "" : "; ") + key + ": " + was + " -> " + now;
  }
  return out;
}

EvalResult evaluate(nn::Model& model, const Task& task, const Dataset& data, const BatchPlan& plan,
                    int replicas) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  DataParallel parallel(model, replicas > 0 ? replicas : num_threads());
  std::unique_ptr<Evaluator> evaluator = task.evaluator();
  const BatchContext context{0, 0, false};
  for (const std::vector<int64_t>& indices : plan.epoch(0)) {
    const nn::Batch batch = data.batch(indices, context);
    evaluator->add(parallel.predict(batch), batch);
  }
  model.train(was_training);
  return evaluator->finish();
}

TrainResult fit(TrainSetup& s) {
  const auto start_time = std::chrono::steady_clock::now();
  const TrainOptions& o = s.options;
  nn::Model& model = *s.model;
  const Task& task = *s.task;
  const std::shared_ptr<RunDirectory> run_dir =
      RunDirectory::claim(s.out_dir, s.resume ? RunMode::Resume : RunMode::Fresh);
  const std::string last_path = s.out_dir + "/last.safetensors", best_path = s.out_dir + "/best.safetensors";
  const std::string log_path = s.out_dir + "/metrics.jsonl";

  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(o, model);
  std::unique_ptr<optim::ParameterAverage> average = make_average(o, *optimizer);
  nn::manual_seed(o.seed);
  CheckpointMeta meta = s.meta;
  TrainerState& state = meta.state;
  if (s.resume) {
    const Checkpoint ckpt = read_checkpoint(last_path);
    HEED_CHECK(ckpt.meta.task == meta.task, last_path, ": is a checkpoint of task '", ckpt.meta.task,
               "', not '", meta.task, "'");
    const json was = s.resume_view(ckpt.meta.config), now = s.resume_view(meta.config);
    HEED_CHECK(was == now, last_path, ": was trained with a different configuration; resume needs "
               "the same one except for keys that cannot change the result. Differences: ",
               config_differences(was, now));
    try {
      model.load_state_dict(ckpt.model);
      std::map<std::string, Tensor> optimizer_state = ckpt.optimizer;
      if (average) {  // the model holds the averages, the state the trained weights
        average->load_state(optimizer_state, kUnaveraged);
        average->swap();
        const std::string prefix = std::string(kUnaveraged) + ".";
        std::erase_if(optimizer_state, [&](const auto& entry) { return entry.first.starts_with(prefix); });
      }
      optimizer->load_state(optimizer_state);
    } catch (const Error& e) {
      detail::fail(last_path, ": ", e.what());
    }
    state = ckpt.meta.state;
    nn::set_seed_state(state.seed_state);
    std::fprintf(stderr, "resuming from %s at epoch %ld, batch %ld\n", last_path.c_str(),
                 long(state.epoch + 1), long(state.batch));
  } else {
    if (!o.init_from.empty()) initialise_from(model, o.init_from);
    if (average) average = make_average(o, *optimizer);  // starts from the initialised weights
    std::filesystem::remove(log_path);
  }

  BatchLoader loader(*s.train_data, *s.train_plan, o.seed, true);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  HEED_CHECK(steps_per_epoch > 0, "train: train.batch_size ", o.batch_size, " is larger than the training split (",
             s.train_data->size(), " samples)");
  // train.max_steps ends the run inside an epoch: that epoch is the last, cut short.
  const int64_t epochs = o.max_steps > 0 ? (o.max_steps + steps_per_epoch - 1) / steps_per_epoch : o.epochs;
  optim::ScheduleOptions schedule;
  schedule.kind = o.schedule;
  schedule.total_steps = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  schedule.warmup_steps = int64_t(o.warmup_epochs * double(steps_per_epoch));
  HEED_CHECK(schedule.warmup_steps <= schedule.total_steps, "config: train.warmup_epochs = ", o.warmup_epochs,
             " is ", schedule.warmup_steps, " steps, more than train.max_steps = ", o.max_steps);
  schedule.base_lr = o.lr;
  schedule.min_lr = o.min_lr;
  optim::validate(schedule);

  const int replicas = replica_count(o);
  std::fprintf(stderr, "%s; %ld steps per epoch, %d threads, %d replicas\n", s.summary.c_str(),
               long(steps_per_epoch), num_threads(), replicas);

  InterruptScope interrupt_scope;
  const int64_t raise_at_step = signal_at_step();
  TrainResult result{state.has_best, state.best_metric, 0, 0, false, 0, best_path, last_path};
  auto run_seconds = [&] {  // of this process (checkpoints hold no clock time)
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  };
  auto save = [&](const std::string& path) {
    state.seed_state = nn::seed_state();
    with_average(average.get(), [&] {
      std::vector<std::pair<std::string, Tensor>> optimizer_state = optimizer->state();
      if (average)  // after the swap the averages' buffers hold the trained weights
        for (auto& entry : average->state(kUnaveraged)) optimizer_state.push_back(std::move(entry));
      write_checkpoint(path, model, meta, optimizer_state);
    });
  };
  model.train();
  DataParallel parallel(model, replicas);  // after any resume has loaded the weights
  RunClock run{std::chrono::steady_clock::now(), state.global_step, schedule.total_steps};
  for (; state.epoch < epochs; ++state.epoch, state.batch = 0) {
    const int64_t steps_this_epoch = std::min(steps_per_epoch, schedule.total_steps - state.epoch * steps_per_epoch);
    Progress progress(state.epoch, epochs, steps_this_epoch, o.log_every, run);
    loader.start_epoch(state.epoch, state.batch);
    double& loss_sum = state.epoch_loss_sum;  // in the state: a resumed epoch logs all its steps
    int64_t& loss_count = state.epoch_loss_count;
    while (std::optional<nn::Batch> batch = loader.next()) {
      optimizer->set_lr(optim::learning_rate(schedule, state.global_step));
      const float value = parallel.train_step(*batch, task);
      HEED_CHECK(std::isfinite(value), "train: the loss became ", non_finite_name(value), " at epoch ",
                 state.epoch + 1, ", step ", state.batch + 1, " (learning rate ", optimizer->lr(),
                 "); stopping. ",
                 std::filesystem::exists(last_path) ? "The last checkpoint written is " + last_path
                                                    : std::string("No checkpoint was written yet"),
                 "; try a lower train.lr or set train.clip_grad_norm");
      if (o.clip_grad_norm > 0) optim::clip_grad_norm(optimizer->params(), o.clip_grad_norm);
      optimizer->step();
      optimizer->zero_grad();
      if (average) average->update(state.global_step + 1);
      ++state.batch;
      ++state.global_step;
      loss_sum += value;
      ++loss_count;
      progress.update(state.batch, state.global_step, loss_sum / double(loss_count), batch->size());
      if (state.global_step == raise_at_step) std::raise(SIGINT);
      if (const int signal = g_signal) {  // keep the exact position: --resume continues from here
        save(last_path);
        progress.finish(std::string("interrupted by ") + signal_name(signal) + ": saved " + last_path +
                        " (continue with --resume)");
        result.interrupted = true;
        result.signal = signal;
        return result;
      }
      if (state.batch == steps_this_epoch) break;  // train.max_steps reached
    }
    EvalResult val;
    with_average(average.get(), [&] { val = evaluate(model, task, *s.validation_data, *s.validation_plan, replicas); });
    const double elapsed = run_seconds();
    const bool best = better(task, val.metric, state);
    if (best) {
      state.has_best = true;
      state.best_metric = val.metric;
    }
    const double train_loss = loss_sum / double(std::max<int64_t>(loss_count, 1));
    ++state.epoch;  // the saved position is the start of the next epoch
    state.batch = 0;
    state.epoch_loss_sum = 0;
    state.epoch_loss_count = 0;
    save(last_path);
    if (best) save(best_path);  // atomic, like last
    --state.epoch;
    append_jsonl(log_path, {{"epoch", state.epoch + 1}, {"step", state.global_step}, {"train_loss", train_loss},
                            {"val_loss", val.loss}, {"val_" + task.metric_name(), val.metric},
                            {"lr", optimizer->lr()}, {"seconds", elapsed}});
    char summary[256];
    std::snprintf(summary, sizeof summary, "epoch %ld/%ld: train loss %.4f, validation loss %.4f, %s %.4f%s [%s]",
                  long(state.epoch + 1), long(epochs), train_loss, val.loss, task.metric_name().c_str(),
                  val.metric, best ? " (best)" : "", format_duration(elapsed).c_str());
    progress.finish(summary);
    result.epochs_done = state.epoch + 1;
    result.has_best = state.has_best;
    result.best_metric = state.best_metric;
    if (const int signal = g_signal) {  // during the evaluation: last is the next epoch's start
      std::fprintf(stderr, "interrupted by %s: saved %s (continue with --resume)\n", signal_name(signal),
                   last_path.c_str());
      result.interrupted = true;
      result.signal = signal;
      return result;
    }
    if (o.time_limit_minutes > 0 && elapsed > o.time_limit_minutes * 60) {
      std::fprintf(stderr, "time limit of %.1f minutes reached\n", o.time_limit_minutes);
      ++state.epoch;
      break;
    }
  }
  result.seconds = run_seconds();
  return result;
}

}  // namespace heed::train
