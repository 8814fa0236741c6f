// `heed explain` end to end on a tiny ViT checkpoint: the files it writes and what they hold
// (against `heed predict` and the definitions of the methods), the errors it gives, that a
// failed run leaves nothing behind, and the explorer page loaded in headless Chromium.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "heed/data/image_file.h"
#include "test_files.h"
#include "test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kSide = 8;  // 2 x 2 patches of 4: five attention positions with [CLS]

class ExplainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("heed_explain_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    checkpoint_ = (dir_ / "tiny.safetensors").string();
    test::write_tiny_vit_checkpoint(checkpoint_, kSide);
    test::PngSpec spec;
    spec.width = spec.height = uint32_t(kSide);
    for (int64_t y = 0; y < kSide; ++y) {
      test::Bytes row;
      for (int64_t x = 0; x < kSide; ++x) row.push_back(uint8_t((x < 4 && y < 4) ? 230 : 20 + 3 * x));
      spec.rows.push_back(row);
    }
    image_ = (dir_ / "input.png").string();
    test::write_png(image_, spec);
  }
  void TearDown() override { fs::remove_all(dir_); }

  test::CliResult explain(std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> args = {"explain", "--checkpoint", checkpoint_, "--input", image_, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args, dir_);
  }
  static json read_json(const fs::path& p) {
    std::ifstream f(p);
    return json::parse(f);
  }

  fs::path dir_;
  std::string checkpoint_, image_;
};

TEST_F(ExplainCli, WritesEveryFileWithTheDocumentedContent) {
  const fs::path out = dir_ / "explained";
  const test::CliResult r = explain({}, out.string());
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  for (const char* f : {"overlay.png", "heads.png", "attention.json", "relevance.json", "index.html"})
    EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();

  // attention.json in bertviz's shape: tokens, then per layer [heads][T][T] with rows of 1.
  const json a = read_json(out / "attention.json");
  ASSERT_EQ(a.at("tokens").size(), 5u);
  EXPECT_EQ(a["tokens"][0], "[CLS]");
  ASSERT_EQ(a.at("attention").size(), 1u);     // depth 1
  ASSERT_EQ(a["attention"][0].size(), 2u);     // 2 heads
  for (const json& head : a["attention"][0]) {
    ASSERT_EQ(head.size(), 5u);
    for (const json& row : head) {
      double sum = 0;
      for (const json& x : row) sum += x.get<double>();
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }

  // relevance.json: the prediction is predict's; with one layer, rollout is 0.5 A + 0.5 I of the
  // head mean (row [CLS], the patches' columns), and raw attention is the head mean itself.
  const json rel = read_json(out / "relevance.json");
  const test::CliResult p = test::run_cli({"predict", "--checkpoint", checkpoint_, "--input", image_,
                                           "--top-k", "1", "--json"}, dir_);
  ASSERT_TRUE(p.exited && p.exit_code == 0) << p.err;
  const json top = json::parse(p.out)["predictions"][0]["top"][0];
  EXPECT_EQ(rel["predicted"]["class"], top["class"]);
  EXPECT_NEAR(rel["predicted"]["probability"].get<double>(), top["probability"].get<double>(), 1e-6);
  EXPECT_EQ(rel["grid"]["rows"], 2);
  EXPECT_EQ(rel["grid"]["cols"], 2);
  const json& methods = rel.at("methods");
  for (int j = 1; j < 5; ++j) {
    const double mean = (a["attention"][0][0][0][j].get<double>() + a["attention"][0][1][0][j].get<double>()) / 2;
    EXPECT_NEAR(methods["attention"]["tokens"][j - 1].get<double>(), mean, 1e-6);
    EXPECT_NEAR(methods["rollout"]["tokens"][j - 1].get<double>(), 0.5 * mean, 1e-6);
    EXPECT_NEAR(methods["rollout"]["grid"][(j - 1) / 2][(j - 1) % 2].get<double>(), 0.5 * mean, 1e-6);
    EXPECT_GE(methods["gradient_rollout"]["tokens"][j - 1].get<double>(), 0.0);  // I + positive parts
  }

  // The pictures are PNGs of a readable size.
  const Tensor overlay = data::read_image((out / "overlay.png").string());
  EXPECT_EQ(overlay.size(0), 3);
  EXPECT_GE(overlay.size(2), 3 * 256);  // three method panels of 256 pixels
  const Tensor heads = data::read_image((out / "heads.png").string());
  EXPECT_GE(heads.size(2), 2 * 96);
}

TEST_F(ExplainCli, ClassLayerAndHeadChooseWhatIsExplained) {
  const fs::path out = dir_ / "head1";
  const test::CliResult r = explain({"--class", "2", "--layer", "0", "--head", "1"}, out.string());
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const json rel = read_json(out / "relevance.json"), a = read_json(out / "attention.json");
  EXPECT_EQ(rel["explained"]["class"], 2);
  EXPECT_EQ(rel["explained"]["name"], "c");
  for (int j = 1; j < 5; ++j)
    EXPECT_NEAR(rel["methods"]["attention"]["tokens"][j - 1].get<double>(),
                a["attention"][0][1][0][j].get<double>(), 1e-7);
}

TEST_F(ExplainCli, BadRequestsFailClearlyAndWriteNothing) {
  struct Case {
    std::vector<std::string> extra;
    std::string out, message;
  };
  fs::create_directories(dir_ / "full");
  test::write_text(dir_ / "full" / "keep.txt", "mine");
  const std::vector<Case> cases = {
      {{"--layer", "1"}, (dir_ / "a").string(), "--layer 1 is outside the model's 1 layers"},
      {{"--head", "2"}, (dir_ / "b").string(), "--head 2 is outside the model's 2 heads"},
      {{"--class", "3"}, (dir_ / "c").string(), "--class 3 is outside the model's 3 classes"},
      {{}, (dir_ / "full").string(), "exists and is not an empty directory"},
      {{}, (dir_ / "no" / "such" / "dir").string(), "does not exist"},
      {{"--index", "1"}, (dir_ / "d").string(), "--index 1 is outside"},
      {{}, "/proc/heed-explain-here", "cannot create"},  // a directory nobody can write into
  };
  for (const Case& c : cases) {
    const test::CliResult r = explain(c.extra, c.out);
    EXPECT_TRUE(r.exited && r.exit_code != 0) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "want '" << c.message << "', got: " << r.err;
  }
  for (const char* gone : {"a", "b", "c", "d"}) EXPECT_FALSE(fs::exists(dir_ / gone)) << gone;
  EXPECT_EQ(test::read_text(dir_ / "full" / "keep.txt"), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "full"), fs::directory_iterator()), 1);
  const test::CliResult text = test::run_cli(
      {"explain", "--checkpoint", checkpoint_, "--text", "hello", "--out", (dir_ / "e").string()}, dir_);
  EXPECT_NE(text.err.find("takes --input IMAGE"), std::string::npos) << text.err;
}

// The explorer in a real browser: headless Chromium runs the page's script, which marks
// <body data-ready="1"> when it has drawn everything and data-error on any script error.
TEST_F(ExplainCli, ExplorerPageRendersInHeadlessChromium) {
  const char* browser = nullptr;
  for (const char* b : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (::access(b, X_OK) == 0) browser = b;
  if (!browser) HEED_SKIP_WITHOUT_ORACLE("no headless Chromium (Debian package chromium)");
  const fs::path out = dir_ / "page";
  ASSERT_TRUE(explain({}, out.string()).exit_code == 0);
  const fs::path dom = dir_ / "dom.html", log = dir_ / "chromium.log";
  const std::string command = std::string(browser) +
                              " --headless --no-sandbox --disable-gpu --no-first-run --enable-logging=stderr"
                              " --user-data-dir=" + (dir_ / "profile").string() +
                              " --virtual-time-budget=5000 --dump-dom file://" + (out / "index.html").string() +
                              " >" + dom.string() + " 2>" + log.string();
  ASSERT_EQ(std::system(command.c_str()), 0) << test::read_text(log);
  const std::string page = test::read_text(dom), messages = test::read_text(log);
  EXPECT_NE(page.find("data-ready=\"1\""), std::string::npos) << messages;
  EXPECT_EQ(page.find("data-error"), std::string::npos) << page.substr(0, 400);
  EXPECT_EQ(messages.find("Uncaught"), std::string::npos) << messages;
  EXPECT_NE(page.find("predicted "), std::string::npos);  // the title the script wrote
  EXPECT_NE(page.find("<canvas"), std::string::npos);
}

}  // namespace
}  // namespace heed
