// Reading a run's training curves from its metrics.jsonl (one JSON object per line; rows with
// an "epoch" key are the per-epoch summaries the trainer writes, see train/trainer.h).
#pragma once

#include <string>
#include <string_view>

#include "heed/interpret/pictures.h"

namespace heed::interpret {

// The curves of the run in `run_dir`; errors name the file and line of a malformed row, and
// a directory without metrics.jsonl.
RunCurves read_run_curves(const std::string& run_dir);
// The same from the file's bytes; `file` names it in errors (fuzz_curves.cpp).
RunCurves parse_run_curves(std::string_view text, const std::string& file, const std::string& label);

}  // namespace heed::interpret
