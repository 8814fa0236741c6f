// Config files and --set overrides: duplicate keys are refused with their dotted path, objects
// given to --set merge into a section instead of replacing it.
#include "heed/train/config_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "heed/core/error.h"

namespace heed::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string write_config(const std::string& text) {
  const fs::path p = fs::path(::testing::TempDir()) /
                     ("heed_config_json_" + std::to_string(::getpid()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json");
  std::ofstream(p) << text;
  return p.string();
}

std::string error_reading(const std::string& text) {
  const std::string path = write_config(text);
  try {
    (void)read_json_file(path);
  } catch (const Error& e) {
    fs::remove(path);
    return e.what();
  }
  fs::remove(path);
  ADD_FAILURE() << "accepted: " << text;
  return "";
}

TEST(ConfigJson, DuplicateKeysAreRefusedWithTheirPath) {
  const std::string path = write_config("{}");
  EXPECT_NE(error_reading(R"({"train": {"epochs": 1, "lr": 0.1, "epochs": 2}})").find("duplicate key 'train.epochs'"),
            std::string::npos);
  EXPECT_NE(error_reading(R"({"a": 1, "a": 1})").find("duplicate key 'a'"), std::string::npos);
  // Inside an array of objects, and the same key in two different objects is fine.
  EXPECT_NE(error_reading(R"({"x": [{"k": 1}, {"k": 2, "k": 3}]})").find("duplicate key 'x.k'"), std::string::npos);
  const std::string ok = write_config(R"({"model": {"dim": 1}, "train": {"dim": 2}, "x": [{"k": 1}, {"k": 2}]})");
  EXPECT_EQ(read_json_file(ok)["x"][1]["k"], 2);
  fs::remove(ok);
  fs::remove(path);
}

TEST(ConfigJson, SetMergesAnObjectIntoASection) {
  json config = json::parse(R"({"model": {"dim": 64, "depth": 6}})");
  apply_override(config, "model={}");
  EXPECT_EQ(config, json::parse(R"({"model": {"dim": 64, "depth": 6}})")) << "model={} dropped the section";
  apply_override(config, R"(model={"dim": 32})");
  EXPECT_EQ(config, json::parse(R"({"model": {"dim": 32, "depth": 6}})"));
  apply_override(config, R"(data.text_fields=["subject","body"])");
  EXPECT_EQ(config["data"]["text_fields"], json::parse(R"(["subject","body"])"));
  apply_override(config, "train.optimizer=sgd");  // a bare word is a string
  EXPECT_EQ(config["train"]["optimizer"], "sgd");
}

TEST(ConfigJson, SetValueWithADuplicateKeyIsRefused) {
  json config = json::object();
  try {
    apply_override(config, R"(model={"dim": 1, "dim": 2})");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--set model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("duplicate key 'dim'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace heed::train
