// DataParallel against the plain single-model computation: the loss and every parameter
// gradient of one forward/backward over the whole batch, and the logits of a no-grad forward.
#include "heed/train/data_parallel.h"

#include <gtest/gtest.h>

#include <cmath>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/nn/models/seq2seq.h"
#include "heed/nn/models/vit.h"
#include "heed/ops/ops.h"
#include "heed/tasks/classification.h"
#include "heed/tasks/seq2seq.h"

namespace heed::train {
namespace {

nn::VitConfig small_config() {
  nn::VitConfig c;
  c.image_height = c.image_width = 8;
  c.num_classes = 3;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  return c;
}

struct Batch {
  Tensor images, labels;
  nn::Batch batch() const { return {{{"images", images}, {"labels", labels}}, {}}; }
};

Batch make_batch(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Batch b{Tensor::randn({n, 1, 8, 8}, rng), Tensor::empty({n}, DType::I64)};
  for (int64_t i = 0; i < n; ++i) b.labels.i64()[i] = int64_t(rng.below(3));
  return b;
}

tasks::ClassificationTask task(float label_smoothing = 0.f) {
  return tasks::ClassificationTask("image-classification", {"a", "b", "c"}, label_smoothing);
}

Tensor predict(DataParallel& parallel, const Tensor& images) {
  nn::Batch b;
  b.tensors["images"] = images;
  return parallel.predict(b).logits.value();
}

std::vector<Tensor> grads(nn::VisionTransformer& m) {
  std::vector<Tensor> out;
  for (auto& [name, p] : m.named_parameters()) out.push_back(p->grad().clone());
  return out;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], 2e-6 + 1e-4 * std::abs(w[i])) << what << " element " << i;
}

// One forward/backward over the whole batch on one model, against two and three replicas
// (uneven slices of a 7-image batch; one ignored target changes the slices' weights).
TEST(DataParallel, MatchesOneForwardOverTheWholeBatch) {
  Batch b = make_batch(7, 11);
  b.labels.i64()[2] = -100;  // ignored: the mean is over the 6 others
  CrossEntropyOptions options;
  options.label_smoothing = 0.1f;

  nn::VisionTransformer reference(small_config(), 5);
  Var loss = cross_entropy(reference.forward(Var(b.images)), b.labels, options);
  loss.backward();
  const std::vector<Tensor> want = grads(reference);

  for (int replicas : {2, 3}) {
    nn::VisionTransformer model(small_config(), 5);
    DataParallel parallel(model, replicas);
    ASSERT_EQ(parallel.replicas(), replicas);
    const float got_loss = parallel.train_step(b.batch(), task(0.1f));
    EXPECT_NEAR(got_loss, loss.value().item(), 1e-5) << replicas << " replicas";
    const std::vector<Tensor> got = grads(model);
    const auto names = model.named_parameters();
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i], want[i], std::to_string(replicas) + " replicas, " + names[i].first);
  }
}

// A model whose registered parameter is read under a second name (the seq2seq model's shared
// source/target embedding, also its tied output layer): every replica must read the master's
// table there too. (Replicas once kept their own initial target table: the loss and the shared
// embedding's gradient were wrong with 2 or more threads.)
TEST(DataParallel, MatchesOneForwardWithASharedTiedEmbedding) {
  nn::Seq2SeqConfig c;
  c.source_vocab = c.target_vocab = 12;
  c.max_len = 8;
  c.dim = 16;
  c.heads = 2;
  c.encoder_depth = c.decoder_depth = 1;
  c.mlp_hidden = 32;
  c.dropout = 0.f;
  const tasks::Seq2SeqDataset data({{5, 6, 7, 3}, {8, 3}, {9, 10, 11, 4, 3}, {6, 3}, {7, 7, 3}},
                                   {{6, 7}, {9}, {10, 11, 4}, {5}, {8, 8}});
  const nn::Batch batch = data.batch({0, 1, 2, 3, 4}, {});
  const tasks::Seq2SeqTask seq2seq;
  nn::Seq2SeqTransformer reference(c, 4);
  Var loss = seq2seq.loss(reference.forward(batch), batch);
  loss.backward();
  std::vector<Tensor> want;
  for (auto& [name, p] : reference.named_parameters()) want.push_back(p->grad().clone());
  for (int replicas : {2, 3}) {
    nn::Seq2SeqTransformer model(c, 4);
    DataParallel parallel(model, replicas);
    EXPECT_NEAR(parallel.train_step(batch, seq2seq), loss.value().item(), 1e-5) << replicas << " replicas";
    const auto names = model.named_parameters();
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(names[i].second->grad(), want[i], std::to_string(replicas) + " replicas, " + names[i].first);
    NoGradGuard no_grad;
    expect_close(parallel.predict(batch).logits.value(), reference.forward(batch).logits.value(),
                 std::to_string(replicas) + " replicas, predicted hidden states");
  }
}

// With class weights the batch mean is weighted (divided by the summed weights of the counted
// targets), so replicas must weigh their slices by target weight, not by row count.
TEST(DataParallel, MatchesOneForwardWithClassWeights) {
  Batch b = make_batch(7, 12);
  b.labels.i64()[4] = -100;
  const std::vector<float> weights = {0.5f, 3.f, 1.25f};
  CrossEntropyOptions options;
  options.weight = Tensor::from_vector({3}, weights);
  nn::VisionTransformer reference(small_config(), 6);
  Var loss = cross_entropy(reference.forward(Var(b.images)), b.labels, options);
  loss.backward();
  const std::vector<Tensor> want = grads(reference);
  const tasks::ClassificationTask weighted("image-classification", {"a", "b", "c"}, 0.f, "accuracy", weights);
  double total = 0;
  for (int64_t i = 0; i < 7; ++i)
    if (b.labels.i64()[i] >= 0) total += weights[size_t(b.labels.i64()[i])];
  EXPECT_DOUBLE_EQ(weighted.target_weight(b.batch()), total);
  for (int replicas : {2, 3}) {
    nn::VisionTransformer model(small_config(), 6);
    DataParallel parallel(model, replicas);
    EXPECT_NEAR(parallel.train_step(b.batch(), weighted), loss.value().item(), 1e-5) << replicas << " replicas";
    const std::vector<Tensor> got = grads(model);
    const auto names = model.named_parameters();
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(got[i], want[i], std::to_string(replicas) + " replicas, " + names[i].first);
  }
}

TEST(ClassificationTask, BalancedWeightsAreScikitLearns) {
  // sklearn.utils.class_weight.compute_class_weight("balanced", classes=[0, 1, 2], y=...):
  // n_samples / (n_classes * bincount(y)) = 6 / (3 * [3, 2, 1]).
  const std::vector<float> w = tasks::balanced_class_weights({0, 1, 0, 2, 1, 0}, 3);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_FLOAT_EQ(w[0], 6.f / 9.f);
  EXPECT_FLOAT_EQ(w[1], 1.f);
  EXPECT_FLOAT_EQ(w[2], 2.f);
  EXPECT_EQ(tasks::balanced_class_weights({0, 0}, 2)[1], 0.f);  // an absent class
  EXPECT_THROW(tasks::balanced_class_weights({0, 3}, 2), Error);
  EXPECT_THROW(tasks::ClassificationTask("t", {"a", "b"}, 0.f, "accuracy", {1.f}), Error);
  EXPECT_THROW(tasks::ClassificationTask("t", {"a", "b"}, 0.f, "accuracy", {1.f, -1.f}), Error);
}

TEST(DataParallel, GradientsAccumulateAndFollowOptimiserUpdates) {
  const Batch b = make_batch(6, 3);
  nn::VisionTransformer model(small_config(), 1);
  DataParallel parallel(model, 2);
  parallel.train_step(b.batch(), task());
  const std::vector<Tensor> once = grads(model);
  parallel.train_step(b.batch(), task());  // a second step without zero_grad adds
  const std::vector<Tensor> twice = grads(model);
  for (size_t i = 0; i < once.size(); ++i) {
    const std::vector<float> a = once[i].to_vector(), c = twice[i].to_vector();
    for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(c[j], 2 * a[j], 1e-6 + 1e-5 * std::abs(a[j]));
  }
  // The replicas read the model's current values: change a weight in place, as an optimiser
  // does, and the replicas' logits change with the model's.
  model.eval();
  const Tensor before = predict(parallel, b.images);
  for (auto& [name, p] : model.named_parameters())
    if (name == "head.bias") p->value().f32()[1] += 1.f;
  const Tensor after = predict(parallel, b.images);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(after.at({i, 1}) - before.at({i, 1}), 1.f, 1e-5);
    EXPECT_EQ(after.at({i, 0}), before.at({i, 0}));
  }
}

TEST(DataParallel, PredictMatchesTheModelAndIsRepeatable) {
  const Batch b = make_batch(5, 8);
  nn::VisionTransformer model(small_config(), 2);
  model.eval();
  Tensor want;
  {
    NoGradGuard no_grad;
    want = model.forward(Var(b.images)).value();
  }
  DataParallel parallel(model, 2);
  const Tensor got = predict(parallel, b.images);
  expect_close(got, want, "logits");
  EXPECT_EQ(predict(parallel, b.images).to_vector(), got.to_vector());
  // More replicas than images: the extra ones sit out.
  DataParallel wide(model, 8);
  expect_close(predict(wide, b.images.slice(0, 0, 2).contiguous()),
               want.slice(0, 0, 2).contiguous(), "two images, eight replicas");
}

TEST(DataParallel, DropPathIsReproducibleWithTheSameSeed) {
  nn::VitConfig c = small_config();
  c.drop_path = 0.5f;
  c.dropout = 0.2f;
  const Batch b = make_batch(8, 4);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    nn::manual_seed(42);
    nn::VisionTransformer model(c, 3);
    DataParallel parallel(model, 2);
    parallel.train_step(b.batch(), task());
    parallel.train_step(b.batch(), task());
    runs.push_back(grads(model)[0].to_vector());
    EXPECT_EQ(nn::seed_state().second, 2u) << "one global seed draw per step";
  }
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(DataParallel, ErrorsInAReplicaReachTheCaller) {
  nn::VisionTransformer model(small_config(), 1);
  DataParallel parallel(model, 2);
  const int threads = num_threads();
  Rng rng(1);
  const Tensor wrong = Tensor::randn({4, 1, 6, 6}, rng);  // not 8x8
  Tensor labels = Tensor::zeros({4}, DType::I64);
  EXPECT_THROW(parallel.train_step(Batch{wrong, labels}.batch(), task()), Error);
  EXPECT_THROW(predict(parallel, wrong), Error);
  EXPECT_EQ(num_threads(), threads);  // the thread count is restored; the object still works
  const Batch b = make_batch(4, 2);
  EXPECT_NO_THROW(parallel.train_step(b.batch(), task()));
}

}  // namespace
}  // namespace heed::train
