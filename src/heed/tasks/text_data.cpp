#include "heed/tasks/text_data.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string_view>

#include "heed/core/error.h"
#include "heed/core/rng.h"
#include "heed/data/loader.h"
#include "heed/io/zlib_bytes.h"
#include "heed/train/batch_loader.h"
#include "heed/train/checkpoint.h"

namespace heed::tasks {

namespace {
// The byte length of the first `chars` UTF-8 code points of `s` (s is valid UTF-8).
size_t prefix_bytes(const std::string& s, int64_t chars) {
  size_t i = 0;
  for (int64_t n = 0; i < s.size() && n < chars; ++n) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) ++i;
  }
  return i;
}
}  // namespace

Texts read_texts(const data::TextTable& table, const TextInputOptions& o) {
  Texts t;
  t.path = table.path;
  t.invalid_utf8 = table.invalid_utf8;
  for (const data::TextRecord& r : table.records) {
    std::vector<std::string> fields;
    bool any = false;
    for (const std::string& name : o.text_fields) {
      std::string value = data::field_of(table, r, name);
      const size_t keep = prefix_bytes(value, o.max_chars);
      if (keep < value.size()) {
        value.resize(keep);
        ++t.cut;
      }
      any = any || value.find_first_not_of(" \t\r\n") != std::string::npos;
      fields.push_back(std::move(value));
    }
    t.empty += !any;
    t.fields.push_back(std::move(fields));
    t.lines.push_back(r.line);
  }
  return t;
}

void report_text_fixes(const Texts& t) {
  if (t.cut == 0 && t.invalid_utf8 == 0 && t.empty == 0) return;
  std::fprintf(stderr, "%s: %zu records; %ld with a field cut to data.max_chars, %ld with invalid UTF-8 "
               "(replaced by U+FFFD), %ld with no text (classified from [CLS] alone)\n",
               t.path.c_str(), t.fields.size(), long(t.cut), long(t.invalid_utf8), long(t.empty));
}

void check_lengths(const TextInputOptions& o, int64_t model_max_len) {
  HEED_CHECK(o.max_tokens <= model_max_len, "config: data.max_tokens (", o.max_tokens,
             ") must be at most model.max_len (", model_max_len, ")");
  HEED_CHECK(o.tail_tokens < o.max_tokens, "config: data.tail_tokens (", o.tail_tokens,
             ") must be less than data.max_tokens (", o.max_tokens, "): the head keeps at least [CLS]");
}

std::vector<int32_t> encode_fields(const data::Tokenizer& tokenizer, const std::vector<std::string>& fields,
                                   const TextInputOptions& options) {
  const int64_t max_tokens = options.max_tokens;
  // The tail needs every field; the head alone can stop encoding once it has enough.
  const int64_t tail = std::min(options.tail_tokens, max_tokens - 1);  // [CLS] stays (check_lengths)
  std::vector<int32_t> ids = {data::Tokenizer::kCls};
  for (size_t f = 0; f < fields.size(); ++f) {
    if (f > 0) ids.push_back(data::Tokenizer::kSep);
    const std::vector<int32_t> piece = tokenizer.encode(fields[f]);
    ids.insert(ids.end(), piece.begin(), piece.end());
    if (tail == 0 && int64_t(ids.size()) >= max_tokens) break;
  }
  if (int64_t(ids.size()) <= max_tokens) return ids;
  const int64_t head = max_tokens - tail;
  ids.erase(ids.begin() + head, ids.end() - tail);
  return ids;
}

std::vector<std::vector<int32_t>> encode_windows(const data::Tokenizer& tokenizer,
                                                 const std::vector<std::string>& fields,
                                                 const TextInputOptions& options) {
  const int64_t width = options.max_tokens - 1;  // a window's tokens after its [CLS]
  TextInputOptions whole = options;  // the text cut once, to every window's worth
  whole.max_tokens = options.max_windows * width + 1;
  const std::vector<int32_t> ids = encode_fields(tokenizer, fields, whole);
  const int64_t n = int64_t(ids.size()) - 1;
  const int64_t count = std::max<int64_t>(1, (n + width - 1) / width);
  std::vector<std::vector<int32_t>> out;
  for (int64_t w = 0; w < count; ++w) {
    std::vector<int32_t> window = {data::Tokenizer::kCls};
    window.insert(window.end(), ids.begin() + 1 + n * w / count, ids.begin() + 1 + n * (w + 1) / count);
    out.push_back(std::move(window));
  }
  return out;
}

namespace {
// The metadata value of a compressed tokenizer starts with this (never a base64 character):
// "zlib:" + base64(zlib(model)). Checkpoints written before it hold base64(model).
constexpr std::string_view kZlibPrefix = "zlib:";
// SentencePiece models of a million pieces are tens of MB; more is a damaged or hostile file.
constexpr uint64_t kMaxTokenizerBytes = uint64_t{256} << 20;
}  // namespace

data::Tokenizer tokenizer_of(const std::string& path, const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find("tokenizer");
  HEED_CHECK(it != metadata.end(), path, ": the checkpoint holds no tokenizer (metadata 'tokenizer')");
  const std::string source = path + " metadata 'tokenizer'";
  std::string_view value = it->second;
  const bool compressed = value.starts_with(kZlibPrefix);
  if (compressed) value.remove_prefix(kZlibPrefix.size());
  std::string proto = data::base64_decode(value, source);
  if (compressed) proto = io::inflate_bytes(proto, kMaxTokenizerBytes, source);
  return data::Tokenizer::from_proto(proto, source);
}

std::string tokenizer_metadata(const data::Tokenizer& tokenizer) {
  return std::string(kZlibPrefix) + data::base64_encode(io::deflate_bytes(tokenizer.proto()));
}

data::Tokenizer obtain_tokenizer(const TextInputOptions& o, const std::string& init_from, const Texts& training) {
  if (!init_from.empty()) {
    const train::Checkpoint ckpt = train::read_checkpoint(init_from);
    HEED_CHECK(o.tokenizer.empty(), "config: data.tokenizer and train.init_from both give a tokenizer; the "
               "encoder of ", init_from, " only works with its own: leave data.tokenizer empty");
    std::fprintf(stderr, "tokenizer: the one of %s\n", init_from.c_str());
    return tokenizer_of(init_from, ckpt.meta.extra);
  }
  if (!o.tokenizer.empty()) {
    std::fprintf(stderr, "tokenizer: %s\n", o.tokenizer.c_str());
    return data::Tokenizer::from_file(o.tokenizer);
  }
  std::vector<std::string> texts;
  for (const std::vector<std::string>& fields : training.fields)
    for (const std::string& f : fields) texts.push_back(f);
  data::TokenizerOptions options;
  options.vocab_size = o.vocab_size;
  options.model_type = o.tokenizer_type;
  data::Tokenizer t = data::Tokenizer::train(texts, options);
  std::fprintf(stderr, "tokenizer: trained %s on %s, %ld pieces\n", o.tokenizer_type.c_str(),
               training.path.c_str(), long(t.vocab_size()));
  return t;
}

TextDataset::TextDataset(std::vector<std::vector<int32_t>> sequences, std::vector<int64_t> labels,
                         double token_dropout)
    : sequences_(std::move(sequences)), labels_(std::move(labels)), token_dropout_(token_dropout) {
  HEED_CHECK(labels_.empty() || labels_.size() == sequences_.size(), "text data: ", labels_.size(),
             " labels for ", sequences_.size(), " sequences");
  HEED_CHECK(token_dropout_ >= 0 && token_dropout_ < 1, "text data: token dropout ", token_dropout_,
             " is not in [0, 1)");
  first_window_.resize(sequences_.size() + 1);
  std::iota(first_window_.begin(), first_window_.end(), 0);
}

TextDataset TextDataset::windowed(const std::vector<std::vector<std::vector<int32_t>>>& records,
                                  std::vector<int64_t> labels, double token_dropout) {
  std::vector<std::vector<int32_t>> windows;
  std::vector<int64_t> first = {0};
  for (const auto& record : records) {
    HEED_CHECK(!record.empty(), "text data: record ", first.size() - 1, " has no window");
    windows.insert(windows.end(), record.begin(), record.end());
    first.push_back(int64_t(windows.size()));
  }
  HEED_CHECK(labels.empty() || labels.size() == records.size(), "text data: ", labels.size(), " labels for ",
             records.size(), " records");
  TextDataset out(std::move(windows), {}, token_dropout);
  out.labels_ = std::move(labels);
  out.first_window_ = std::move(first);
  out.windowed_ = true;
  return out;
}

int64_t TextDataset::length(int64_t index) const {
  int64_t n = 0;
  for (int64_t w = first_window_[size_t(index)]; w < first_window_[size_t(index) + 1]; ++w)
    n += int64_t(sequences_[size_t(w)].size());
  return n;
}

std::vector<int64_t> TextDataset::lengths() const {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < size(); ++i) out.push_back(length(i));
  return out;
}

nn::Batch TextDataset::batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const {
  int64_t t = 1, w = 1;
  for (int64_t i : indices) {
    HEED_CHECK(i >= 0 && i < size(), "text data: index ", i, " is outside the set of ", size());
    w = std::max(w, windows(i));
    for (int64_t k = first_window_[size_t(i)]; k < first_window_[size_t(i) + 1]; ++k)
      t = std::max<int64_t>(t, int64_t(sequences_[size_t(k)].size()));
  }
  const int64_t b = int64_t(indices.size());
  Tensor tokens = Tensor::zeros({b, w, t}, DType::I64), lengths = Tensor::zeros({b, w}, DType::I64);
  const uint64_t seed = context.seed ^ 0x746f6b64726f7070ull;  // "tokdropp": its own stream
  const int64_t all_windows = int64_t(sequences_.size());
  for (int64_t r = 0; r < b; ++r) {
    const int64_t first = first_window_[size_t(indices[size_t(r)])];
    for (int64_t k = 0; k < windows(indices[size_t(r)]); ++k) {
      const std::vector<int32_t>& s = sequences_[size_t(first + k)];
      int64_t* row = tokens.i64() + (r * w + k) * t;
      std::copy(s.begin(), s.end(), row);
      lengths.i64()[r * w + k] = int64_t(s.size());
      if (!context.training || token_dropout_ <= 0) continue;
      const uint64_t sample = uint64_t(context.epoch) * uint64_t(all_windows) + uint64_t(first + k);
      for (int64_t p = 0; p < int64_t(s.size()); ++p)
        if (row[p] > data::Tokenizer::kMask && random_uniform(seed, (sample << 20) + uint64_t(p)) < token_dropout_)
          row[p] = data::Tokenizer::kMask;
    }
  }
  nn::Batch out;
  out.indices = indices;
  out.tensors["tokens"] = windowed_ ? tokens : tokens.reshape({b, t});
  out.tensors["lengths"] = windowed_ ? lengths : lengths.reshape({b});
  if (!labels_.empty()) {
    Tensor labels = Tensor::empty({b}, DType::I64);
    for (int64_t r = 0; r < b; ++r) labels.i64()[r] = labels_[size_t(indices[size_t(r)])];
    out.tensors["labels"] = labels;
  }
  return out;
}

double padding_overhead(const TextDataset& data, const train::BatchPlan& plan) {
  int64_t real = 0, padded = 0;
  for (const std::vector<int64_t>& batch : plan.epoch(0)) {
    const nn::Batch shapes = data.TextDataset::batch(batch, {});  // the tokens the model computes over
    for (int64_t i : batch) real += data.length(i);
    padded += shapes.at("tokens").numel();
  }
  return real ? double(padded) / double(real) - 1 : 0;
}

Texts read_corpus(const std::vector<std::string>& paths, const TextInputOptions& o) {
  Texts all;
  for (const std::string& path : paths) {
    const data::TextTable table = data::read_text_table(path);
    // A .txt file has the one field "text"; other formats the configured text fields.
    TextInputOptions fields = o;
    if (table.columns == std::vector<std::string>{"text"}) fields.text_fields = {"text"};
    Texts t = read_texts(table, fields);
    report_text_fixes(t);
    all.path = all.path.empty() ? path : all.path + " + " + path;
    for (auto& f : t.fields) all.fields.push_back(std::move(f));
    all.lines.insert(all.lines.end(), t.lines.begin(), t.lines.end());
  }
  HEED_CHECK(!all.fields.empty(), all.path, ": no records");
  return all;
}

namespace {
std::vector<int64_t> iota_of(size_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

EncodedCorpus encode_corpus(const TextInputOptions& in, const std::vector<std::string>& extra_train, uint64_t seed,
                            const std::string& init_from, bool end_token,
                            const std::function<void()>& before_tokenizer) {
  std::vector<std::string> train_files = {in.train};
  train_files.insert(train_files.end(), extra_train.begin(), extra_train.end());
  const Texts corpus = read_corpus(train_files, in);
  std::vector<int64_t> train_idx, val_idx;
  Texts validation;
  if (in.validation.empty()) {
    std::tie(train_idx, val_idx) = data::split_indices(int64_t(corpus.fields.size()), in.validation_fraction, seed);
  } else {
    train_idx = iota_of(corpus.fields.size());
    validation = read_corpus({in.validation}, in);
    val_idx = iota_of(validation.fields.size());
  }
  Texts train_texts;
  train_texts.path = corpus.path;
  for (int64_t i : train_idx) train_texts.fields.push_back(corpus.fields[size_t(i)]);
  if (before_tokenizer) before_tokenizer();
  EncodedCorpus out{obtain_tokenizer(in, init_from, train_texts), {}, {}};
  auto encode = [&](const Texts& texts, const std::vector<int64_t>& which) {
    std::vector<std::vector<int32_t>> sequences;
    for (int64_t i : which) {
      sequences.push_back(encode_fields(out.tokenizer, texts.fields[size_t(i)], in));
      if (end_token && int64_t(sequences.back().size()) < in.max_tokens) sequences.back().push_back(data::Tokenizer::kSep);
    }
    return sequences;
  };
  out.train = encode(corpus, train_idx);
  out.validation = in.validation.empty() ? encode(corpus, val_idx) : encode(validation, val_idx);
  return out;
}

train::ShuffledBatches eval_plan(const TextDataset& data, int64_t batch_size) {
  std::vector<int64_t> order = iota_of(size_t(data.size()));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return data.length(a) < data.length(b); });
  return train::ShuffledBatches(order, batch_size, false, false, 0);
}

}  // namespace heed::tasks
