// Corpus BLEU (Papineni et al. 2002) as sacreBLEU computes it by default: one reference per
// candidate, sacreBLEU's "13a" tokeniser (mteval-v13a's rules), clipped n-gram counts up to 4
// summed over the corpus, the brevity penalty from the corpus lengths, and sacreBLEU's "exp"
// smoothing for an order with no match (which only matters on tiny or very bad outputs). The
// score is on sacreBLEU's 0-100 scale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace heed::metrics {

// sacreBLEU's 13a tokens: XML entities (&quot; &amp; &lt; &gt;) undone; ASCII punctuation other
// than ' , - . split off; '.' and ',' split off unless between digits; '-' after a digit split off.
std::vector<std::string> bleu_tokens(const std::string& text);

// What Python's str.split() does: splits on every Unicode white space (str.isspace: ASCII
// \t-\r and space, \x1c-\x1f, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
// U+205F, U+3000) and drops empty pieces. unicode_space_bytes gives the bytes of the white space
// starting at s[i], 0 if there is none.
size_t unicode_space_bytes(const std::string& s, size_t i);
std::vector<std::string> split_on_spaces(const std::string& s);

struct BleuScore {
  double score = 0;                      // 0-100
  double precisions[4] = {0, 0, 0, 0};   // per order, 0-100, unsmoothed
  double brevity_penalty = 0;
  int64_t candidate_length = 0, reference_length = 0;
};

BleuScore corpus_bleu(const std::vector<std::string>& candidates, const std::vector<std::string>& references);

}  // namespace heed::metrics
