// Shared by the tasks' pruning tests: heed prune of a trained checkpoint by half, and a figure of
// `heed eval --json`, to compare the written file with the masked curve.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "heed/compress/prune.h"

namespace heed::test {

// The curve at 0 and 0.5 on eval's default data, importance on every training record, and half
// the heads removed into `out`.
inline compress::PruneReport prune_half(const std::string& checkpoint, const std::string& out) {
  compress::PruneOptions o;
  o.curve = {0.0, 0.5};
  o.heads = 0.5;
  o.out = out;
  o.samples = 0;
  return compress::prune_report(train::read_checkpoint(checkpoint), o);
}

// `heed eval --checkpoint C --json`'s figure `key`, run in `dir`.
inline double eval_figure(const std::string& checkpoint, const std::string& key, const std::filesystem::path& dir) {
  const CliResult ev = run_cli({"eval", "--checkpoint", checkpoint, "--json"}, dir);
  EXPECT_EQ(ev.exit_code, 0) << ev.err;
  return ev.exit_code == 0 ? nlohmann::json::parse(ev.out).at(key).get<double>() : -1;
}

}  // namespace heed::test
