// The SentencePiece tokenizer as heed trains and stores it: special ids, determinism, the text
// "[SEP]" staying text, round trips through the serialized model and base64.
#include "heed/data/tokenizer.h"

#include <gtest/gtest.h>

#include "heed/core/error.h"

namespace heed::data {
namespace {

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  const char* words[] = {"free", "money", "offer", "meeting", "tomorrow", "project", "report", "winner",
                         "click", "here", "please", "review", "the", "attached", "draft"};
  for (int i = 0; i < 300; ++i) {
    std::string t;
    for (int k = 0; k < 12; ++k) t += std::string(words[(i * 7 + k * 3) % 15]) + (k % 5 == 4 ? "\n" : " ");
    texts.push_back(t);
  }
  return texts;
}

TEST(Tokenizer, SpecialIdsAndDeterminism) {
  TokenizerOptions o;
  o.vocab_size = 60;
  const Tokenizer a = Tokenizer::train(corpus(), o), b = Tokenizer::train(corpus(), o);
  EXPECT_EQ(a.proto(), b.proto()) << "the same texts and options must give the same model";
  EXPECT_EQ(a.piece(Tokenizer::kPad), "<pad>");
  EXPECT_EQ(a.piece(Tokenizer::kUnk), "<unk>");
  EXPECT_EQ(a.piece(Tokenizer::kCls), "[CLS]");
  EXPECT_EQ(a.piece(Tokenizer::kSep), "[SEP]");
  EXPECT_EQ(a.piece(Tokenizer::kMask), "[MASK]");
  EXPECT_LE(a.vocab_size(), 60);
  // The text "[SEP]" is characters, never the separator.
  for (int32_t id : a.encode("hello [SEP] [MASK] world")) EXPECT_FALSE(a.is_special(id) && id != Tokenizer::kUnk) << id;
  const std::vector<int32_t> ids = a.encode("free money tomorrow");
  EXPECT_EQ(a.decode(ids), "free money tomorrow");
  o.model_type = "bpe";
  const Tokenizer bpe = Tokenizer::train(corpus(), o);
  EXPECT_EQ(bpe.decode(bpe.encode("review the attached draft")), "review the attached draft");
}

TEST(Tokenizer, SerializedModelRoundTripAndErrors) {
  TokenizerOptions o;
  o.vocab_size = 50;
  const Tokenizer a = Tokenizer::train(corpus(), o);
  const Tokenizer b = Tokenizer::from_proto(base64_decode(base64_encode(a.proto()), "test"), "test");
  EXPECT_EQ(a.encode("click here please"), b.encode("click here please"));
  try {
    Tokenizer::from_proto("not a model", "junk.model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.model: not a SentencePiece model"), std::string::npos) << e.what();
  }
  o.model_type = "wordpiece";
  EXPECT_THROW(Tokenizer::train(corpus(), o), Error);
  EXPECT_THROW(Tokenizer::train({"", "  \n "}, TokenizerOptions{}), Error);  // nothing to train on
}

TEST(Base64, RoundTripsAndRejectsDamage) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s), "t"), s);
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");  // RFC 4648 test vectors
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_THROW(base64_decode("Zm9", "t"), Error);
  EXPECT_THROW(base64_decode("Zm!v", "t"), Error);
  EXPECT_THROW(base64_decode("Zg==Zm8=", "t"), Error);
}

}  // namespace
}  // namespace heed::data
