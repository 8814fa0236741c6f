// libFuzzer target: the text readers (JSONL, CSV, TSV, TXT), the text tasks' field handling and
// the tokenizer, on the input bytes. The first byte chooses what the rest is:
//   0-3  a text file (.jsonl, .csv, .tsv, .txt) read by parse_text_table; every record's fields
//        are then cut, validated and encoded ([CLS] f1 [SEP] f2 ...) by a small tokenizer, as
//        the text tasks do;
//   4    raw text given straight to the tokenizer (after valid_utf8, as `heed predict --text`);
//   5    a tokenizer model as a checkpoint holds one (the next byte says in which form): the
//        serialized model, the model compressed with zlib, or the "tokenizer" metadata value;
//   6    an interaction log (CSV, MovieLens's columns) read, ordered, filtered and split;
//   7    lines read a batch at a time from a pipe, as `heed translate` reads its input: the
//        next byte is the batch size, the one after it the size of the pieces a writer thread
//        sends, and the lines read must be the input's lines exactly.
// Expected outcomes: success or heed::Error; anything else is a bug.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include "heed/core/error.h"
#include "heed/data/interactions.h"
#include "heed/data/text_table.h"
#include "heed/data/tokenizer.h"
#include "heed/io/line_batches.h"
#include "heed/io/zlib_bytes.h"
#include "heed/tasks/text_data.h"

namespace {

const heed::data::Tokenizer& tokenizer() {
  static const heed::data::Tokenizer t = [] {
    std::vector<std::string> texts;
    for (int i = 0; i < 200; ++i)
      texts.push_back("the quick brown fox " + std::to_string(i) + " jumps over the lazy dog, free money now");
    heed::data::TokenizerOptions o;
    o.vocab_size = 64;
    return heed::data::Tokenizer::train(texts, o);
  }();
  return t;
}

// Streams `input` through a pipe in pieces of `piece` bytes and checks that LineBatches gives
// back its lines ('\n'-separated, a final line without one included), at most `max_lines` each.
void check_line_batches(std::string_view input, int64_t max_lines, size_t piece) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  heed::io::LineBatches batches(fds[0], max_lines);  // (before the writer: nothing throws after)
  std::thread writer([&] {
    for (size_t at = 0; at < input.size();) {
      const ssize_t n = ::write(fds[1], input.data() + at, std::min(piece, input.size() - at));
      if (n <= 0) std::abort();
      at += size_t(n);
    }
    ::close(fds[1]);
  });
  std::vector<std::string> lines;
  for (auto batch = batches.next(); !batch.empty(); batch = batches.next()) {
    if (int64_t(batch.size()) > max_lines) std::abort();
    for (auto& line : batch) lines.push_back(std::move(line));
  }
  writer.join();
  ::close(fds[0]);
  std::vector<std::string> expected;
  for (size_t at = 0; at < input.size();) {
    const size_t end = std::min(input.find('\n', at), input.size());
    expected.emplace_back(input.substr(at, end - at));
    at = end + 1;
  }
  if (lines != expected) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 8) {
      case 4:
        (void)tokenizer().encode(heed::data::valid_utf8(rest));
        break;
      case 5: {
        if (rest.empty()) break;
        const std::string_view body = rest.substr(1);
        std::optional<heed::data::Tokenizer> t;
        switch (uint8_t(rest[0]) % 3) {
          case 0:
            t = heed::data::Tokenizer::from_proto(std::string(body), "fuzz");
            break;
          case 1:  // a compressed model, as the metadata holds one after its base64
            t = heed::data::Tokenizer::from_proto(heed::io::inflate_bytes(body, 1 << 20, "fuzz"), "fuzz");
            break;
          default:  // the metadata value itself: base64, or "zlib:" and base64
            t = heed::tasks::tokenizer_of("fuzz", {{"tokenizer", std::string(body)}});
        }
        (void)t->encode("hello world");
        break;
      }
      case 6: {
        const heed::data::UserSequences s = heed::data::build_sequences(
            heed::data::read_interactions(heed::data::parse_text_table("in.csv", rest), {}), {3, 2});
        for (const auto& sequence : s.sequences) (void)heed::data::LeaveOneOut{sequence}.test_input();
        break;
      }
      case 7:
        if (rest.size() >= 2)
          check_line_batches(rest.substr(2), 1 + uint8_t(rest[0]) % 16, 1 + size_t(uint8_t(rest[1])) % 64);
        break;
      default: {
        const char* names[] = {"in.jsonl", "in.csv", "in.tsv", "in.txt"};
        const heed::data::TextTable table = heed::data::parse_text_table(names[data[0] % 8], rest);
        heed::tasks::TextInputOptions o;
        o.max_chars = 64;
        o.max_tokens = 32;
        o.tail_tokens = data[0] % 3 == 0 ? 8 : 0;
        o.text_fields = table.columns.empty() ? std::vector<std::string>{"text"} : table.columns;
        if (o.text_fields.size() > 3) o.text_fields.resize(3);
        const heed::tasks::Texts texts = heed::tasks::read_texts(table, o);
        for (const auto& fields : texts.fields) {
          (void)heed::tasks::encode_fields(tokenizer(), fields, o);
          // Windows of a long text: each starts with [CLS] and fits max_tokens.
          heed::tasks::TextInputOptions w = o;
          w.max_tokens = 4 + data[0] % 5;
          w.tail_tokens = std::min<int64_t>(o.tail_tokens, w.max_tokens - 1);
          w.max_windows = 1 + data[0] % 4;
          const auto windows = heed::tasks::encode_windows(tokenizer(), fields, w);
          if (windows.empty() || int64_t(windows.size()) > w.max_windows) __builtin_trap();
          for (const auto& window : windows)
            if (window.empty() || int64_t(window.size()) > w.max_tokens || window[0] != heed::data::Tokenizer::kCls)
              __builtin_trap();
        }
      }
    }
  } catch (const heed::Error&) {
    // a clean rejection
  }
  return 0;
}
