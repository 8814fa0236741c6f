#include "heed/interpret/curves.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "heed/core/error.h"

namespace heed::interpret {

namespace fs = std::filesystem;

RunCurves read_run_curves(const std::string& run_dir) {
  const fs::path file = fs::path(run_dir) / "metrics.jsonl";
  std::error_code ec;
  HEED_CHECK(fs::is_regular_file(file, ec), run_dir, ": no metrics.jsonl (is it a heed run directory?)");
  std::ifstream in(file);
  HEED_CHECK(in.good(), file.string(), ": cannot read");
  RunCurves r;
  fs::path name = fs::path(run_dir);
  if (name.filename().empty()) name = name.parent_path();  // "runs/a/"
  r.label = name.filename().string();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto number = [&](const nlohmann::json& row, const std::string& key, size_t line) {
    if (!row.contains(key) || row[key].is_null()) return nan;
    HEED_CHECK(row[key].is_number(), file.string(), ":", line, ": \"", key, "\" is not a number");
    return row[key].get<double>();
  };
  std::string text;
  for (size_t line = 1; std::getline(in, text); ++line) {
    if (text.empty()) continue;
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      detail::fail(file.string(), ":", line, ": not JSON (", e.what(), ")");
    }
    HEED_CHECK(row.is_object(), file.string(), ":", line, ": not a JSON object");
    if (!row.contains("epoch")) continue;  // mid-epoch progress rows
    if (r.metric.empty())
      for (const auto& [key, value] : row.items())
        if (key.rfind("val_", 0) == 0 && key != "val_loss") {
          r.metric = key;
          break;
        }
    r.epoch.push_back(number(row, "epoch", line));
    HEED_CHECK(std::isfinite(r.epoch.back()), file.string(), ":", line, ": \"epoch\" is not a number");
    r.train_loss.push_back(number(row, "train_loss", line));
    r.val_loss.push_back(number(row, "val_loss", line));
    r.val_metric.push_back(r.metric.empty() ? nan : number(row, r.metric, line));
  }
  HEED_CHECK(!r.epoch.empty(), file.string(), ": no finished epoch yet");
  if (r.metric.empty()) r.metric = "validation metric";
  return r;
}

}  // namespace heed::interpret
