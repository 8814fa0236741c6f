#include "heed/metrics/bleu.h"

#include <cmath>
#include <map>

#include "heed/core/error.h"

namespace heed::metrics {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// mteval's first rule: ASCII punctuation except ' , - . (the ranges {-~ [-` space-& (-+ :-@ and /).
bool split_always(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
}

// One left-to-right pass of a two-character rule, matches taken without overlap (as re.sub
// does): where match(s[i], s[i+1]) holds, emit(s[i], s[i+1]) is written and both are consumed.
template <class Match, class Emit>
std::string pairwise(const std::string& s, Match match, Emit emit) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && match(s[i], s[i + 1])) {
      emit(out, s[i], s[i + 1]);
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}
}  // namespace

size_t unicode_space_bytes(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return i + k < s.size() ? uint8_t(s[i + k]) : uint8_t(0); };
  const uint8_t c = b(0);
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c == 0xc2 && (b(1) == 0x85 || b(1) == 0xa0)) return 2;  // U+0085, U+00A0
  if (c == 0xe1 && b(1) == 0x9a && b(2) == 0x80) return 3;     // U+1680
  if (c == 0xe2 && b(1) == 0x80 && (b(2) <= 0x8a || b(2) == 0xa8 || b(2) == 0xa9 || b(2) == 0xaf)) return 3;
  if (c == 0xe2 && b(1) == 0x81 && b(2) == 0x9f) return 3;     // U+205F
  if (c == 0xe3 && b(1) == 0x80 && b(2) == 0x80) return 3;     // U+3000
  return 0;
}

std::vector<std::string> split_on_spaces(const std::string& s) {
  std::vector<std::string> out;
  std::string current;
  for (size_t i = 0; i < s.size();) {
    if (const size_t n = unicode_space_bytes(s, i)) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      i += n;
    } else {
      current += s[i++];
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::vector<std::string> bleu_tokens(const std::string& text) {
  std::string s = text;
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  for (char& c : s)
    if (c == '\n') c = ' ';
  replace_all(s, "&quot;", "\"");
  replace_all(s, "&amp;", "&");
  replace_all(s, "&lt;", "<");
  replace_all(s, "&gt;", ">");
  std::string spaced = " ";
  for (char c : s) {
    if (split_always(c)) {
      spaced += ' ';
      spaced += c;
      spaced += ' ';
    } else {
      spaced += c;
    }
  }
  spaced += ' ';
  // Bytes, not code points: a UTF-8 lead or continuation byte is "not a digit" just as its code
  // point is, and a space lands before or after the whole character either way.
  auto dot_or_comma = [](char c) { return c == '.' || c == ','; };
  s = pairwise(spaced, [&](char a, char b) { return !is_digit(a) && dot_or_comma(b); },
               [](std::string& o, char a, char b) { (o += a) += ' ', (o += b) += ' '; });
  s = pairwise(s, [&](char a, char b) { return dot_or_comma(a) && !is_digit(b); },
               [](std::string& o, char a, char b) { ((o += ' ') += a) += ' ', o += b; });
  s = pairwise(s, [](char a, char b) { return is_digit(a) && b == '-'; },
               [](std::string& o, char a, char b) { (o += a) += ' ', (o += b) += ' '; });
  return split_on_spaces(s);
}

BleuScore corpus_bleu(const std::vector<std::string>& candidates, const std::vector<std::string>& references) {
  HEED_CHECK(candidates.size() == references.size(), "bleu: ", candidates.size(), " candidates for ",
             references.size(), " references");
  double matches[4] = {0, 0, 0, 0}, totals[4] = {0, 0, 0, 0};
  BleuScore out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::vector<std::string> c = bleu_tokens(candidates[i]), r = bleu_tokens(references[i]);
    out.candidate_length += int64_t(c.size());
    out.reference_length += int64_t(r.size());
    for (size_t n = 1; n <= 4; ++n) {
      std::map<std::vector<std::string>, int64_t> ref_grams;
      for (size_t j = 0; j + n <= r.size(); ++j) ++ref_grams[{r.begin() + long(j), r.begin() + long(j + n)}];
      std::map<std::vector<std::string>, int64_t> cand_grams;
      for (size_t j = 0; j + n <= c.size(); ++j) ++cand_grams[{c.begin() + long(j), c.begin() + long(j + n)}];
      for (const auto& [g, k] : cand_grams) {
        totals[n - 1] += double(k);
        auto it = ref_grams.find(g);
        if (it != ref_grams.end()) matches[n - 1] += double(std::min(k, it->second));
      }
    }
  }
  if (out.candidate_length == 0) return out;
  double log_sum = 0, smooth = 1;
  for (int n = 0; n < 4; ++n) {
    out.precisions[n] = totals[n] > 0 ? 100 * matches[n] / totals[n] : 0;
    if (totals[n] == 0) return out;  // a corpus shorter than n tokens per line: BLEU is 0
    double p = matches[n] / totals[n];
    if (matches[n] == 0) {  // sacreBLEU's "exp": 1 / 2^k for the k-th order without a match
      smooth *= 2;
      p = 1 / (smooth * totals[n]);
    }
    log_sum += std::log(p) / 4;
  }
  const double c = double(out.candidate_length), r = double(out.reference_length);
  out.brevity_penalty = c < r ? std::exp(1 - r / c) : 1.0;
  out.score = 100 * out.brevity_penalty * std::exp(log_sum);
  return out;
}

}  // namespace heed::metrics
