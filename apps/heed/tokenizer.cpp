// heed tokenizer train: a SentencePiece model from text files, as `heed train` makes one.
#include <cstdio>

#include "commands.h"
#include "heed/data/text_table.h"
#include "heed/data/tokenizer.h"

namespace heed::cli {

void register_tokenizer(CLI::App& app) {
  static std::vector<std::string> inputs, fields = {"text"};
  static std::string out, model_type = "unigram";
  static int64_t vocab_size = 8000;
  auto* cmd = app.add_subcommand("tokenizer", "Subword tokenizers (SentencePiece)");
  cmd->require_subcommand(1);
  auto* train = cmd->add_subcommand("train", "Train a tokenizer on text files (JSONL, CSV, TSV, TXT)");
  train->add_option("--input", inputs, "text files")->required();
  train->add_option("--field", fields, "text fields to learn from (JSONL/CSV/TSV; .txt files have \"text\")")
      ->capture_default_str();
  train->add_option("--vocab-size", vocab_size, "pieces, special ones included")
      ->check(CLI::Range(int64_t{16}, int64_t{1000000}))->capture_default_str();
  train->add_option("--model-type", model_type, "unigram or bpe")->check(CLI::IsMember({"unigram", "bpe"}))
      ->capture_default_str();
  train->add_option("--out", out, "the .model file to write")->required();
  train->callback([] {
    std::vector<std::string> texts;
    for (const std::string& path : inputs) {
      const data::TextTable table = data::read_text_table(path);
      const bool txt = table.columns == std::vector<std::string>{"text"};
      for (const data::TextRecord& r : table.records)
        for (const std::string& f : txt ? std::vector<std::string>{"text"} : fields)
          texts.push_back(data::field_of(table, r, f));
    }
    data::TokenizerOptions o;
    o.vocab_size = vocab_size;
    o.model_type = model_type;
    const data::Tokenizer t = data::Tokenizer::train(texts, o);
    t.save(out);
    std::printf("tokenizer: %s, %ld pieces (%s) from %zu texts\n", out.c_str(), long(t.vocab_size()),
                model_type.c_str(), texts.size());
  });
}

}  // namespace heed::cli
