#include "heed/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "heed/core/error.h"
#include "heed/io/atomic_file.h"

namespace heed::data {

namespace {
// Feeds SentencePiece's trainer the lines of every text, without copying them all first.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  LineIterator(const std::vector<std::string>& texts, size_t max_bytes) : texts_(texts), max_bytes_(max_bytes) {
    advance();
  }
  bool done() const override { return text_ >= texts_.size(); }
  void Next() override { advance(); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  // Moves to the next non-empty line (cut to max_bytes) of the current or a later text.
  void advance() {
    while (text_ < texts_.size()) {
      const std::string& t = texts_[text_];
      if (pos_ >= t.size()) {
        ++text_;
        pos_ = 0;
        continue;
      }
      size_t end = t.find('\n', pos_);
      if (end == std::string::npos) end = t.size();
      line_.assign(t, pos_, std::min(end - pos_, max_bytes_));
      pos_ = end + 1;
      if (line_.find_first_not_of(" \t\r") != std::string::npos) return;
    }
  }
  const std::vector<std::string>& texts_;
  size_t max_bytes_;
  size_t text_ = 0, pos_ = 0;
  std::string line_;
};
}  // namespace

Tokenizer::Tokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, const TokenizerOptions& o) {
  HEED_CHECK(o.model_type == "unigram" || o.model_type == "bpe",
             "tokenizer: model type must be \"unigram\" or \"bpe\", got \"", o.model_type, "\"");
  HEED_CHECK(o.vocab_size >= 16 && o.vocab_size <= 1000000, "tokenizer: vocab_size must be in [16, 1000000], got ",
             o.vocab_size);
  const std::unordered_map<std::string, std::string> args = {
      {"vocab_size", std::to_string(o.vocab_size)},
      {"model_type", o.model_type},
      {"character_coverage", std::to_string(o.character_coverage)},
      {"pad_id", "0"}, {"unk_id", "1"}, {"bos_id", "-1"}, {"eos_id", "-1"},
      {"control_symbols", "[CLS],[SEP],[MASK]"},
      {"max_sentence_length", std::to_string(o.max_sentence_bytes)},
      {"num_threads", "1"},           // the result depends on SentencePiece's thread count
      {"hard_vocab_limit", "false"},  // a small corpus may not hold vocab_size pieces
      {"minloglevel", "2"},           // quiet
  };
  LineIterator lines(texts, size_t(o.max_sentence_bytes));
  HEED_CHECK(!lines.done(), "tokenizer: no text to train on");
  std::string proto;
  const sentencepiece::util::Status status = sentencepiece::SentencePieceTrainer::Train(args, &lines, &proto);
  HEED_CHECK(status.ok(), "tokenizer: SentencePiece training failed: ", status.ToString());
  return from_proto(std::move(proto), "the trained tokenizer");
}

Tokenizer Tokenizer::from_proto(std::string proto, const std::string& source) {
  Tokenizer t;
  const sentencepiece::util::Status status = t.sp_->LoadFromSerializedProto(proto);
  HEED_CHECK(status.ok(), source, ": not a SentencePiece model: ", status.ToString());
  const char* pieces[] = {"<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"};
  for (int32_t id = 0; id <= kMask; ++id)
    HEED_CHECK(t.sp_->GetPieceSize() > id && t.sp_->IdToPiece(id) == pieces[id], source,
               ": a heed tokenizer has ", pieces[id], " at id ", id, " (this one has '",
               t.sp_->GetPieceSize() > id ? t.sp_->IdToPiece(id) : std::string("nothing"), "')");
  t.proto_ = std::move(proto);
  return t;
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  const std::vector<std::byte> bytes = io::read_file(path, uint64_t{256} << 20);
  return from_proto(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const sentencepiece::util::Status status = sp_->Encode(text, &ids);
  HEED_CHECK(status.ok(), "tokenizer: cannot encode: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  const sentencepiece::util::Status status = sp_->Decode(std::vector<int>(ids.begin(), ids.end()), &out);
  HEED_CHECK(status.ok(), "tokenizer: cannot decode: ", status.ToString());
  return out;
}

std::string Tokenizer::piece(int32_t id) const {
  HEED_CHECK(id >= 0 && id < sp_->GetPieceSize(), "tokenizer: id ", id, " is outside the vocabulary of ",
             sp_->GetPieceSize());
  return sp_->IdToPiece(id);
}

int64_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

void Tokenizer::save(const std::string& path) const {
  io::write_file_atomic(path, std::as_bytes(std::span(proto_.data(), proto_.size())));
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = uint8_t(bytes[i]), b1 = i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) : 0,
                   b2 = i + 2 < bytes.size() ? uint8_t(bytes[i + 2]) : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[v & 63] : '=');
  }
  return out;
}

std::string base64_decode(std::string_view text, const std::string& source) {
  HEED_CHECK(text.size() % 4 == 0, source, ": base64 text of length ", text.size(), " (not a multiple of 4)");
  auto value = [&](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + size_t(k)];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      HEED_CHECK(pad == 0, source, ": base64 padding in the middle of the text");
      v[k] = value(c);
      HEED_CHECK(v[k] >= 0, source, ": a character that is not base64 at offset ", i + size_t(k));
    }
    const uint32_t word = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(char((word >> 16) & 255));
    if (pad < 2) out.push_back(char((word >> 8) & 255));
    if (pad < 1) out.push_back(char(word & 255));
  }
  return out;
}

}  // namespace heed::data
