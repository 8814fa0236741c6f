#include "heed/interpret/explanation_files.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "heed/core/error.h"
#include "heed/interpret/explorer.h"
#include "heed/interpret/pictures.h"
#include "heed/interpret/relevance.h"

namespace heed::interpret {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
std::string class_name(const ExplainSubject& s, int64_t c) {
  return size_t(c) < s.class_names.size() ? s.class_names[size_t(c)] : std::to_string(c);
}

json prediction_json(const Explanation& e, const ExplainSubject& s, int64_t c) {
  return {{"class", c}, {"name", class_name(s, c)}, {"probability", e.probabilities[size_t(c)]}};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  HEED_CHECK(f.good(), path.string(), ": cannot write");
}

std::string percent(float p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", double(p) * 100.0);
  return buf;
}
}  // namespace

std::vector<float> subject_relevance(const Tensor& relevance, const ExplainSubject& s) {
  if (!s.mean_pooled) return relevance_row(relevance, s.query, s.query);
  const int64_t t = relevance.size(0);
  std::vector<float> mean(size_t(t - 1), 0.f);
  for (int64_t i = 0; i < t; ++i) {
    const std::vector<float> row = relevance_row(relevance, i, s.query);
    for (size_t j = 0; j < row.size(); ++j) mean[j] += row[j] / float(t);
  }
  return mean;
}

json relevance_json(const Explanation& e, const ExplainSubject& s) {
  json methods = json::object();
  for (const char* m : kMethods) {
    const std::vector<float> row = subject_relevance(relevance_of(e, m), s);
    json entry = {{"tokens", row}};
    if (s.grid_rows > 0) {
      HEED_CHECK(int64_t(row.size()) == s.grid_rows * s.grid_cols, "explain: ", row.size(),
                 " relevance values for a ", s.grid_rows, " x ", s.grid_cols, " patch grid");
      json grid = json::array();
      for (int64_t r = 0; r < s.grid_rows; ++r)
        grid.push_back(std::vector<float>(row.begin() + r * s.grid_cols, row.begin() + (r + 1) * s.grid_cols));
      entry["grid"] = grid;
    }
    methods[m] = entry;
  }
  json tokens = json::array();
  for (size_t i = 0; i < s.tokens.size(); ++i)
    if (int64_t(i) != s.query) tokens.push_back(s.tokens[i]);
  json out = {{"input", s.input},
              {"predicted", prediction_json(e, s, e.predicted)},
              {"explained", prediction_json(e, s, e.explained)},
              {"query_token", s.mean_pooled ? "the mean of every token" : s.tokens.at(size_t(s.query))},
              {"tokens", tokens},
              {"methods", methods}};
  if (s.grid_rows > 0) out["grid"] = {{"rows", s.grid_rows}, {"cols", s.grid_cols}};
  return out;
}

json attention_json(const Explanation& e, const ExplainSubject& s) {
  json layers = json::array();
  for (const Tensor& a : e.attention) {
    const Tensor c = a.contiguous();
    const int64_t h = c.size(0), t = c.size(1);
    HEED_CHECK(size_t(t) == s.tokens.size(), "explain: ", s.tokens.size(), " token names for ", t,
               " attention positions");
    json heads = json::array();
    for (int64_t k = 0; k < h; ++k) {
      json rows = json::array();
      for (int64_t i = 0; i < t; ++i)
        rows.push_back(std::vector<float>(c.f32() + (k * t + i) * t, c.f32() + (k * t + i + 1) * t));
      heads.push_back(rows);
    }
    layers.push_back(heads);
  }
  return {{"tokens", s.tokens}, {"attention", layers}};
}

void write_explanation(const std::string& out, const Explanation& e, const ExplainSubject& s) {
  HEED_CHECK(!out.empty(), "explain: --out is empty");
  std::error_code ec;
  const fs::path target(out);
  if (fs::exists(target, ec)) {
    HEED_CHECK(fs::is_directory(target, ec) && fs::is_empty(target, ec), out,
               ": exists and is not an empty directory; choose another --out or remove it");
  }
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  HEED_CHECK(fs::is_directory(parent, ec), out, ": the directory ", parent.string(), " does not exist");
  const fs::path tmp = parent / (target.filename().string() + ".tmp-" + std::to_string(getpid()));
  fs::remove_all(tmp, ec);
  HEED_CHECK(fs::create_directory(tmp, ec), tmp.string(), ": cannot create (", ec.message(), ")");
  try {
    const json attention = attention_json(e, s), relevance = relevance_json(e, s);
    write_text(tmp / "attention.json", attention.dump());
    write_text(tmp / "relevance.json", relevance.dump(1));
    const std::string title = "predicted " + class_name(s, e.predicted) + " (" +
                              percent(e.probabilities[size_t(e.predicted)]) + ")" +
                              (e.explained != e.predicted ? ", explaining " + class_name(s, e.explained) : "");
    json image = nullptr;
    if (s.image.defined() && s.grid_rows > 0) {
      std::vector<RelevancePanel> panels;
      for (const char* m : kMethods)
        panels.push_back({m, subject_relevance(relevance_of(e, m), s)});
      draw_overlay((tmp / "overlay.png").string(), s.image, s.grid_rows, s.grid_cols, panels, title);
      const Tensor im = s.image.contiguous();
      image = {{"channels", im.size(0)}, {"height", im.size(1)}, {"width", im.size(2)},
               {"pixels", im.to_vector()}};
    } else {  // text: the tokens coloured by relevance
      std::vector<std::string> shown;
      for (size_t i = 0; i < s.tokens.size(); ++i)
        if (int64_t(i) != s.query) shown.push_back(s.tokens[i]);
      std::vector<RelevancePanel> panels;
      for (const char* m : kMethods) panels.push_back({m, subject_relevance(relevance_of(e, m), s)});
      draw_tokens((tmp / "overlay.png").string(), shown, panels, title);
    }
    draw_heads((tmp / "heads.png").string(), e.attention, "attention by layer and head");
    write_text(tmp / "index.html", explorer_html(attention, relevance, image));
    if (fs::exists(target, ec)) fs::remove(target, ec);  // the empty directory checked above
    fs::rename(tmp, target, ec);
    HEED_CHECK(!ec, out, ": cannot move the finished explanation into place (", ec.message(), ")");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace heed::interpret
