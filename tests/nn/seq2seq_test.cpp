// The encoder-decoder Transformer against tools/seq2seq.py, which runs torch.nn.Transformer
// itself between the same embeddings and output layer (same parameter names): logits at every
// target position and every parameter's gradient, for pre-norm + learned positions + one tied
// vocabulary and post-norm + sinusoidal positions + two vocabularies + a generator. Then
// decoding with the cache (the self-attention's keys and values appended, the memory's projected
// once) against the same logits position by position.
#include "heed/nn/models/seq2seq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "heed/io/safetensors.h"
#include "heed/nn/generation.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed::nn {
namespace {

struct Golden {
  io::SafetensorsFile file;
  std::unique_ptr<Seq2SeqTransformer> model;
};

Golden load(const std::string& name) {
  Golden g{io::read_safetensors(std::string(HEED_GOLDEN_DIR) + "/seq2seq/" + name + ".safetensors"), nullptr};
  const auto& m = g.file.metadata;
  Seq2SeqConfig c;
  c.source_vocab = std::stoll(m.at("source_vocab"));
  c.target_vocab = std::stoll(m.at("target_vocab"));
  c.share_embeddings = m.at("share_embeddings") == "true";
  c.tie_output = m.at("tie_output") == "true";
  c.pre_norm = m.at("pre_norm") == "true";
  c.positions = m.at("positions");
  c.max_len = 12;
  c.dim = 16;
  c.heads = 2;
  c.encoder_depth = c.decoder_depth = 2;
  c.mlp_hidden = 32;
  c.dropout = 0.f;
  g.model = std::make_unique<Seq2SeqTransformer>(c, 0);
  std::map<std::string, Tensor> state;
  for (const auto& [key, t] : g.file.tensors)
    if (key.rfind("golden.", 0) != 0) state[key] = t;
  g.model->load_state_dict(state);  // strict: every name maps one to one
  g.model->eval();
  return g;
}

// The reference's logits [B, T, V] at (b, p).
std::vector<float> reference_row(const io::SafetensorsFile& f, int64_t b, int64_t p) {
  const Tensor& logits = f.get("golden.logits");
  const int64_t t = logits.size(1), v = logits.size(2);
  return std::vector<float>(logits.f32() + (b * t + p) * v, logits.f32() + (b * t + p + 1) * v);
}

// Absolute tolerances, about 4x the worst measured on Zen 4 (logits 2.3e-6, gradients 7.9e-7).
constexpr double kLogits = 1e-5, kGrads = 5e-6;

const char* const kCases[] = {"seq2seq_pre_learned_shared", "seq2seq_post_sinusoidal_separate"};

TEST(Seq2SeqGolden, LogitsAndGradientsMatchTorchTransformer) {
  for (const char* name : kCases) {
    Golden g = load(name);
    const io::SafetensorsFile& f = g.file;
    Batch batch;
    batch.tensors = {{"source", f.get("golden.source")}, {"source_lengths", f.get("golden.source_lengths")},
                     {"target_in", f.get("golden.target_in")}, {"target_lengths", f.get("golden.target_lengths")},
                     {"targets", f.get("golden.targets")}};
    const ModelOutput out = g.model->forward(batch);
    const Var logits = out.output_weight.defined() ? linear(out.logits, out.output_weight) : out.logits;
    const Tensor& targets = f.get("golden.targets");
    std::vector<float> want;
    std::vector<int64_t> flat;
    for (int64_t i = 0; i < targets.numel(); ++i)
      if (targets.i64()[i] != -100) {
        const std::vector<float> row = reference_row(f, i / targets.size(1), i % targets.size(1));
        want.insert(want.end(), row.begin(), row.end());
        flat.push_back(targets.i64()[i]);
      }
    const std::vector<float> got = logits.value().to_vector();
    test::report_errors(std::string(name) + " logits", got, want);
    EXPECT_TRUE(test::all_close(got, want, kLogits, 1e-6)) << name;
    cross_entropy(logits, Tensor::from_indices({int64_t(flat.size())}, flat)).backward();
    int compared = 0;
    for (const auto& [param, var] : g.model->named_parameters()) {
      const std::vector<float> grad = var->grad().to_vector(), ref = f.get("golden.grad." + param).to_vector();
      test::report_errors(std::string(name) + " grad " + param, grad, ref);
      EXPECT_TRUE(test::all_close(grad, ref, kGrads, 1e-6)) << name << ": gradient of " << param;
      ++compared;
    }
    EXPECT_GT(compared, 40) << name;
  }
}

TEST(Seq2SeqGolden, CachedDecodingGivesTheReferenceLogitsAtEveryPosition) {
  for (const char* name : kCases) {
    Golden g = load(name);
    const io::SafetensorsFile& f = g.file;
    NoGradGuard no_grad;
    const Tensor& target_in = f.get("golden.target_in");
    const Tensor& lengths = f.get("golden.target_lengths");
    const int64_t b = target_in.size(0), t = target_in.size(1);
    Seq2SeqState state = g.model->start(f.get("golden.source"), f.get("golden.source_lengths"), t);
    // Two positions at once, then one a step; every row is compared where its target is real.
    auto columns = [&](int64_t from, int64_t to) {
      std::vector<int64_t> ids;
      for (int64_t r = 0; r < b; ++r)
        for (int64_t p = from; p < to; ++p) ids.push_back(target_in.i64()[r * t + p]);
      return Tensor::from_indices({b, to - from}, ids);
    };
    for (int64_t p = 1; p < t; ++p) {
      const Tensor logits = g.model->decode_step(p == 1 ? columns(0, 2) : columns(p, p + 1), state);
      const int64_t v = logits.size(1);
      for (int64_t r = 0; r < b; ++r) {
        if (p >= lengths.i64()[r]) continue;
        const std::vector<float> got(logits.f32() + r * v, logits.f32() + (r + 1) * v);
        EXPECT_TRUE(test::all_close(got, reference_row(f, r, p), kLogits, 1e-6)) << name << " row " << r << " at " << p;
      }
    }
    EXPECT_EQ(state.self.length, t);
    EXPECT_THROW(g.model->decode_step(columns(0, 1), state), Error) << "a full cache took more";
  }
}

TEST(Seq2SeqGeneration, CachedAndUncachedAreTokenIdenticalGreedyAndBeam) {
  for (const char* name : kCases) {
    Golden g = load(name);
    const Tensor& source = g.file.get("golden.source");
    const std::vector<int64_t> row(source.i64(), source.i64() + 10);  // row 0: 10 real tokens
    Seq2SeqDecoder decoder(*g.model, {row});
    GenerateOptions o;
    o.max_tokens = 11;  // [CLS] + 11 fill the 12 positions
    const std::vector<int64_t> cached = generate(decoder, {2}, o);
    o.use_cache = false;
    EXPECT_EQ(generate(decoder, {2}, o), cached) << name;
    EXPECT_EQ(cached.size(), 11u);
    BeamOptions b;
    b.beam = 3;
    b.max_tokens = 11;
    b.eos = cached[3];
    const std::vector<BeamHypothesis> beam = beam_search(decoder, {2}, b);
    b.use_cache = false;
    const std::vector<BeamHypothesis> reference = beam_search(decoder, {2}, b);
    ASSERT_EQ(beam.size(), reference.size()) << name;
    for (size_t i = 0; i < beam.size(); ++i) EXPECT_EQ(beam[i].tokens, reference[i].tokens) << name << " " << i;
  }
}

// A batch of sources decodes as each source alone, greedy and beam 3, while sentences that stop
// at different steps leave the batch (their cache rows dropped, the memory's rows moved); and
// the batched cached and uncached searches agree token for token.
TEST(Seq2SeqGeneration, BatchedSearchMatchesEachSourceAlone) {
  bool finished_early = false;  // some sentence left its batch before another
  for (const char* name : kCases) {
    Golden g = load(name);
    const Tensor& source = g.file.get("golden.source");
    const Tensor& lengths = g.file.get("golden.source_lengths");
    std::vector<std::vector<int64_t>> sources;
    for (int64_t r = 0; r < source.size(0); ++r) {
      const int64_t* row = source.i64() + r * source.size(1);
      sources.emplace_back(row, row + lengths.i64()[r]);
    }
    ASSERT_GE(sources.size(), 2u);
    const std::vector<std::vector<int64_t>> prompts(sources.size(), std::vector<int64_t>{2});
    GenerateOptions greedy;
    greedy.max_tokens = 11;
    Seq2SeqDecoder first(*g.model, {sources[0]});
    // eos: a token the sources' greedy outputs first reach at different steps (or never), so
    // that some sentences finish while others go on.
    std::vector<std::vector<int64_t>> free_running;
    for (const auto& s : sources) {
      Seq2SeqDecoder alone(*g.model, {s});
      free_running.push_back(generate(alone, {2}, greedy));
    }
    int64_t eos = -1;
    for (int64_t token : free_running[0]) {
      std::set<int64_t> first_steps;
      for (const auto& out : free_running)
        first_steps.insert(std::find(out.begin(), out.end(), token) - out.begin());
      if (first_steps.size() > 1) {
        eos = token;
        break;
      }
    }
    if (eos < 0) eos = free_running[0][2];  // this model's outputs do not depend on the source
    greedy.eos = eos;
    for (int64_t beam : {1, 3}) {
      BeamOptions o;
      o.beam = beam;
      o.max_tokens = 11;
      o.eos = eos;
      Seq2SeqDecoder batch(*g.model, sources);
      const std::vector<std::vector<BeamHypothesis>> together = beam_search_batch(batch, prompts, o);
      ASSERT_EQ(together.size(), sources.size());
      std::set<size_t> output_lengths;
      for (size_t s = 0; s < sources.size(); ++s) {
        Seq2SeqDecoder alone(*g.model, {sources[s]});
        const std::vector<BeamHypothesis> single = beam_search(alone, {2}, o);
        ASSERT_EQ(together[s].size(), single.size()) << name << " source " << s << " beam " << beam;
        for (size_t i = 0; i < single.size(); ++i) {
          EXPECT_EQ(together[s][i].tokens, single[i].tokens) << name << " source " << s << " beam " << beam;
          EXPECT_NEAR(together[s][i].log_probability, single[i].log_probability, 1e-4);
        }
        if (beam == 1) {
          EXPECT_EQ(single.front().tokens, generate(alone, {2}, greedy)) << "beam 1 is greedy";
        }
        output_lengths.insert(single.front().tokens.size());
      }
      if (beam == 1) finished_early = finished_early || output_lengths.size() > 1;
      o.use_cache = false;
      const std::vector<std::vector<BeamHypothesis>> uncached = beam_search_batch(batch, prompts, o);
      for (size_t s = 0; s < sources.size(); ++s)
        for (size_t i = 0; i < together[s].size(); ++i)
          EXPECT_EQ(uncached[s][i].tokens, together[s][i].tokens) << name << " source " << s << " beam " << beam;
    }
    BeamOptions o;
    EXPECT_THROW(beam_search_batch(first, {{2}, {2, 5}}, o), Error) << "prompts of two lengths";
  }
  EXPECT_TRUE(finished_early) << "every sentence of every batch ran to the same step";
}

TEST(Seq2Seq, SinusoidalPositionsAreVaswanis) {
  const Tensor pe = sinusoidal_positions(50, 8);
  // PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), at p = 7 and 49.
  for (int64_t p : {7, 49})
    for (int64_t i = 0; i < 4; ++i) {
      const double angle = double(p) / std::pow(10000.0, 2.0 * double(i) / 8.0);
      EXPECT_NEAR(pe.f32()[p * 8 + 2 * i], std::sin(angle), 1e-6);
      EXPECT_NEAR(pe.f32()[p * 8 + 2 * i + 1], std::cos(angle), 1e-6);
    }
}

TEST(Seq2Seq, BadConfigsAndInputsAreNamed) {
  Seq2SeqConfig c;
  c.source_vocab = 30;
  c.target_vocab = 40;
  try {
    Seq2SeqTransformer model(c, 0);
    FAIL() << "shared embeddings over two vocabularies accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.share_embeddings"), std::string::npos) << e.what();
  }
  c.share_embeddings = false;
  c.positions = "rotary";
  EXPECT_THROW(Seq2SeqTransformer(c, 0), Error);
}

}  // namespace
}  // namespace heed::nn
