#include "heed/compress/checkpoint_transform.h"

#include <filesystem>

#include "heed/core/error.h"
#include "heed/tasks/registry.h"

namespace heed::compress {

void check_transform(const train::Checkpoint& ckpt, const std::string& out, bool overwrite, const char* done) {
  namespace fs = std::filesystem;
  std::error_code ec;
  HEED_CHECK(!fs::equivalent(ckpt.path, out, ec), out, ": is the checkpoint being ", done, "; give another --out");
  HEED_CHECK(overwrite || !fs::exists(out), out, ": exists; choose another --out or pass --overwrite");
  const tasks::TaskEntry& task = tasks::find_task(ckpt.meta.task);
  HEED_CHECK(task.load_module, ckpt.path, ": task '", task.name, "' cannot be ", done, " yet");
}

std::unique_ptr<nn::Module> load_for_transform(const train::Checkpoint& ckpt, const std::string& out,
                                               bool overwrite, const char* done) {
  check_transform(ckpt, out, overwrite, done);
  return tasks::find_task(ckpt.meta.task).load_module(ckpt);
}

}  // namespace heed::compress
