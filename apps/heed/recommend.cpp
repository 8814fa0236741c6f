// heed recommend: a sequential recommender's next items after a history or a user's log.
#include "commands.h"
#include "heed/tasks/sequential_recommendation.h"

namespace heed::cli {

void register_recommend(CLI::App& app) {
  static tasks::RecommendCommand c;
  static std::string checkpoint, dtype;
  auto* cmd = app.add_subcommand("recommend", "Recommend next items with a sequential-recommendation checkpoint");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--history", c.history, "raw item ids, oldest first: 318,296,593");
  cmd->add_option("--user", c.user, "a user id of --data: recommend after their whole history");
  cmd->add_option("--data", c.data, "interaction log for --user (default: the one the checkpoint was trained on)");
  cmd->add_option("--titles", c.titles, "item titles table (default: the config's data.titles)");
  cmd->add_option("--top-k", c.top_k, "items to list")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--json", c.json, "print JSON");
  add_dtype_option(cmd, dtype);
  cmd->callback([] {
    c.checkpoint = read_checkpoint_as(checkpoint, dtype);
    tasks::recommend(c);
  });
}

}  // namespace heed::cli
