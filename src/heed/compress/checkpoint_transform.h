// What every command that turns one checkpoint into another (heed quantize, heed prune --out)
// checks before any work, and the model it starts from.
#pragma once

#include <memory>
#include <string>

#include "heed/nn/module.h"
#include "heed/train/checkpoint.h"

namespace heed::compress {

// `out` must not be the checkpoint itself, nor exist unless `overwrite`; the checkpoint's task
// must load its model (TaskEntry::load_module). `done` says what the command makes of it in
// errors ("quantised", "pruned").
void check_transform(const train::Checkpoint& checkpoint, const std::string& out, bool overwrite, const char* done);

// check_transform, then the loaded model.
std::unique_ptr<nn::Module> load_for_transform(const train::Checkpoint& checkpoint, const std::string& out,
                                               bool overwrite, const char* done);

}  // namespace heed::compress
