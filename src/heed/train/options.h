// The trainer's options: the "train" section of every task's config, declared once (visit).
#pragma once

#include <cstdint>
#include <string>

#include "heed/train/config_schema.h"

namespace heed::train {

struct TrainOptions {
  int64_t epochs = 10, batch_size = 128;
  // > 0: stop after this many optimizer steps, ending the last epoch early (validated and
  // saved like any epoch); the schedule spans these steps and train.epochs is ignored
  // (Hugging Face's max_steps). A short fine-tune, e.g. heed prune --fine-tune-steps.
  int64_t max_steps = 0;
  // > 0: training batches of at most this many tokens, padding counted, in place of batch_size
  // rows (token tasks only: train/batch_loader.h's TokenBudgetBatches).
  int64_t batch_tokens = 0;
  std::string optimizer = "adamw";  // adamw | sgd
  float lr = 1e-3f, min_lr = 1e-5f;
  double weight_decay = 0.05, beta1 = 0.9, beta2 = 0.999, momentum = 0.9;
  std::string schedule = "cosine";  // cosine | linear | constant
  double warmup_epochs = 1.0;
  float label_smoothing = 0.0f;
  float clip_grad_norm = 0.0f;  // 0: off
  // > 0: validate and save an exponential moving average of the weights with this decay
  // (optim/parameter_average.h), e.g. 0.999; 0: off.
  double ema_decay = 0.0;
  uint64_t seed = 0;
  int threads = 0;   // 0: OMP_NUM_THREADS or every core
  // Model replicas the batch is split over (train/data_parallel.h); 0: one per thread. With a
  // fixed count, results are bit-identical for any thread count.
  int replicas = 0;
  int64_t log_every = 50;         // steps between log lines when stderr is not a terminal
  double time_limit_minutes = 0;  // > 0: stop after the epoch in which this much time has passed
  // A checkpoint to start from: parameters with the same names and shapes are loaded (e.g. a
  // masked-LM encoder into a classifier), the rest keep their initialisation.
  std::string init_from;
};

template <class V>
void visit(V& v, TrainOptions& o) {
  v("epochs", o.epochs, rule::positive());
  v("max_steps", o.max_steps, rule::omitted_when_empty(rule::non_negative()));
  v("batch_size", o.batch_size, rule::positive());
  v("batch_tokens", o.batch_tokens, rule::non_negative());
  v("optimizer", o.optimizer, rule::one_of({"adamw", "sgd"}));
  v("lr", o.lr, rule::positive());
  v("min_lr", o.min_lr, rule::non_negative());
  v("weight_decay", o.weight_decay, rule::non_negative());
  v("beta1", o.beta1, rule::in(0, 1, true));
  v("beta2", o.beta2, rule::in(0, 1, true));
  v("momentum", o.momentum, rule::in(0, 1, true));
  v("schedule", o.schedule, rule::one_of({"cosine", "linear", "constant"}));
  v("warmup_epochs", o.warmup_epochs, rule::non_negative());
  v("label_smoothing", o.label_smoothing, rule::in(0, 1, true));
  v("clip_grad_norm", o.clip_grad_norm, rule::non_negative());
  v("ema_decay", o.ema_decay, rule::in(0, 1, true));
  v("seed", o.seed);
  v("threads", o.threads, rule::in(0, 1024));
  v("replicas", o.replicas, rule::in(0, 1024));
  v("log_every", o.log_every, rule::neutral(rule::positive()));
  v("time_limit_minutes", o.time_limit_minutes, rule::neutral(rule::non_negative()));
  v("init_from", o.init_from);
}

// Checks between fields (min_lr <= lr, warmup_epochs <= epochs), naming the keys.
void validate(const TrainOptions& o);

// The most rows a training batch of `tokens`-long samples holds (for memory checks):
// train.batch_size, or train.batch_tokens / tokens when batches are made by tokens.
int64_t batch_rows(const TrainOptions& o, int64_t tokens);

// The data-parallel replicas of a run: train.replicas, or one per thread.
int replica_count(const TrainOptions& o);

// Sets the thread count of train.threads (0: leaves it), refusing counts far beyond this
// machine's hardware threads.
void apply_threads(const TrainOptions& o);

}  // namespace heed::train
