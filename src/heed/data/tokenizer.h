// Subword tokenizer: SentencePiece (Debian's libsentencepiece, unigram or BPE), trained by heed
// from training text and stored inside checkpoints (its serialized model), so a checkpoint is
// one self-contained file.
//
// Special pieces, the same ids in every heed tokenizer: <pad> 0, <unk> 1, [CLS] 2, [SEP] 3,
// [MASK] 4. They are control symbols: the text "[SEP]" is encoded as ordinary characters, never
// as the separator, so input text cannot forge them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace heed::data {

struct TokenizerOptions {
  int64_t vocab_size = 8000;
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 0.9995;
  // SentencePiece skips longer lines when training: texts are fed line by line.
  int64_t max_sentence_bytes = 8192;
};

class Tokenizer {
 public:
  static constexpr int32_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kMask = 4;

  // Trains on `texts` (each split into lines). Deterministic for the same texts and options
  // (trained on one thread: SentencePiece's result depends on its thread count).
  static Tokenizer train(const std::vector<std::string>& texts, const TokenizerOptions& options);
  // From a serialized model (a .model file's bytes, or a checkpoint's); `source` names it in
  // errors. Checks that the special pieces have heed's ids.
  static Tokenizer from_proto(std::string proto, const std::string& source);
  static Tokenizer from_file(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string piece(int32_t id) const;
  int64_t vocab_size() const;
  bool is_special(int32_t id) const { return id <= kMask; }
  const std::string& proto() const { return proto_; }
  void save(const std::string& path) const;  // atomically

 private:
  Tokenizer();
  std::string proto_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

// Base64 (RFC 4648, padded) for storing a tokenizer in checkpoint metadata.
std::string base64_encode(std::string_view bytes);
// Throws naming `source` on characters outside the alphabet or a bad length.
std::string base64_decode(std::string_view text, const std::string& source);

}  // namespace heed::data
