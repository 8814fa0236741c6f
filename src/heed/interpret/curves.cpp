#include "heed/interpret/curves.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "heed/core/error.h"
#include "heed/io/atomic_file.h"
#include "heed/io/json_limits.h"

namespace heed::interpret {

namespace fs = std::filesystem;

RunCurves parse_run_curves(std::string_view text, const std::string& file, const std::string& label) {
  RunCurves r;
  r.label = label;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto number = [&](const nlohmann::json& row, const std::string& key, size_t line) {
    if (!row.contains(key) || row[key].is_null()) return nan;
    HEED_CHECK(row[key].is_number(), file, ":", line, ": \"", key, "\" is not a number");
    return row[key].get<double>();
  };
  size_t line = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view row_text = text.substr(at, end - at);
    at = end + 1;
    ++line;
    if (row_text.empty()) continue;
    nlohmann::json row;
    try {
      io::check_json_depth(row_text, 64, file + ":" + std::to_string(line), "the row");
      row = nlohmann::json::parse(row_text);
    } catch (const nlohmann::json::exception& e) {
      detail::fail(file, ":", line, ": not JSON (", e.what(), ")");
    }
    HEED_CHECK(row.is_object(), file, ":", line, ": not a JSON object");
    if (!row.contains("epoch")) continue;  // mid-epoch progress rows
    if (r.metric.empty())
      for (const auto& [key, value] : row.items())
        if (key.rfind("val_", 0) == 0 && key != "val_loss") {
          r.metric = key;
          break;
        }
    r.epoch.push_back(number(row, "epoch", line));
    HEED_CHECK(std::isfinite(r.epoch.back()), file, ":", line, ": \"epoch\" is not a number");
    r.train_loss.push_back(number(row, "train_loss", line));
    r.val_loss.push_back(number(row, "val_loss", line));
    r.val_metric.push_back(r.metric.empty() ? nan : number(row, r.metric, line));
  }
  HEED_CHECK(!r.epoch.empty(), file, ": no finished epoch yet");
  if (r.metric.empty()) r.metric = "validation metric";
  return r;
}

RunCurves read_run_curves(const std::string& run_dir) {
  const fs::path file = fs::path(run_dir) / "metrics.jsonl";
  std::error_code ec;
  HEED_CHECK(fs::is_regular_file(file, ec), run_dir, ": no metrics.jsonl (is it a heed run directory?)");
  // A run's metrics are a line per epoch (and per log_every steps): far below this bound.
  const std::vector<std::byte> bytes = io::read_file(file.string(), uint64_t{1} << 30);
  fs::path name = fs::path(run_dir);
  if (name.filename().empty()) name = name.parent_path();  // "runs/a/"
  return parse_run_curves(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                          file.string(), name.filename().string());
}

}  // namespace heed::interpret
