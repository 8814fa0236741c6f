// The text readers: JSONL, CSV (RFC 4180), TSV and TXT, their policies (invalid UTF-8, record
// size) and their errors, which name the file, the line and the field.
#include "heed/data/text_table.h"

#include <gtest/gtest.h>

#include <string>

#include "heed/core/error.h"

namespace heed::data {
namespace {

std::string error_of(const std::string& path, const std::string& bytes) {
  try {
    parse_text_table(path, bytes);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error for " << path;
  return "";
}

#define EXPECT_ERROR(path, bytes, part)                                             \
  do {                                                                              \
    const std::string e_ = error_of(path, bytes);                                   \
    EXPECT_NE(e_.find(part), std::string::npos) << "\"" << (part) << "\" not in: " << e_; \
  } while (0)

TEST(TextTable, JsonlStringsNumbersBooleansAndNull) {
  const TextTable t = parse_text_table("d.jsonl", "{\"text\": \"a b\", \"label\": 3}\n\n"
                                                   "{\"text\": \"c\", \"label\": \"x\", \"ok\": true, \"gone\": null}\r\n");
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[0].line, 1);
  EXPECT_EQ(t.records[1].line, 3);  // the blank line is skipped but counted
  EXPECT_EQ(t.records[0].fields.at("label"), "3");
  EXPECT_EQ(t.records[1].fields.at("ok"), "true");
  EXPECT_EQ(t.records[1].fields.count("gone"), 0u);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"label", "ok", "text"}));
}

TEST(TextTable, JsonlErrorsNameFileLineAndField) {
  EXPECT_ERROR("d.jsonl", "{\"a\": 1}\n{\"a\": \n", "d.jsonl:2: not a valid JSON line");
  EXPECT_ERROR("d.jsonl", "[1, 2]\n", "d.jsonl:1: a JSONL record must be an object");
  EXPECT_ERROR("d.jsonl", "{\"a\": 1}\n{\"text\": [\"x\"]}\n", "d.jsonl:2: field 'text' is array, not a string or number");
  EXPECT_ERROR("d.jsonl", "{\"text\": {\"x\": 1}}\n", "field 'text' is object");
}

TEST(TextTable, CsvQuotingAcrossLinesAndCrlf) {
  const TextTable t = parse_text_table(
      "d.csv", "subject,body,label\r\nhi,\"one, two\",ham\r\n\"say \"\"yes\"\"\",\"line 1\nline 2\",spam\r\n\r\nx,,ham");
  ASSERT_EQ(t.columns, (std::vector<std::string>{"subject", "body", "label"}));
  ASSERT_EQ(t.records.size(), 3u);
  EXPECT_EQ(t.records[0].fields.at("body"), "one, two");
  EXPECT_EQ(t.records[1].fields.at("subject"), "say \"yes\"");
  EXPECT_EQ(t.records[1].fields.at("body"), "line 1\nline 2");
  EXPECT_EQ(t.records[1].line, 3);
  EXPECT_EQ(t.records[2].line, 6);  // after the multi-line record and a blank line
  EXPECT_EQ(t.records[2].fields.at("body"), "");
}

TEST(TextTable, CsvErrors) {
  EXPECT_ERROR("d.csv", "a,b\n1,2,3\n", "d.csv:2: 3 fields, but the header names 2");
  EXPECT_ERROR("d.csv", "a,b\n\"open,2\n", "d.csv:2: a quoted field is not closed");
  EXPECT_ERROR("d.csv", "a,b\nx\"y,2\n", "d.csv:2: a quote inside an unquoted field");
  EXPECT_ERROR("d.csv", "a,b\n\"x\"y,2\n", "d.csv:2: text after a closing quote");
  EXPECT_ERROR("d.csv", "", "d.csv: no header row");
}

TEST(TextTable, TsvAndTxt) {
  const TextTable t = parse_text_table("d.tsv", "text\tlabel\nhello world\tham\n\nbye\tspam\n");
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[1].line, 4);
  EXPECT_EQ(t.records[1].fields.at("text"), "bye");
  EXPECT_ERROR("d.tsv", "a\tb\nonly\n", "d.tsv:2: 1 fields, but the header names 2");
  const TextTable txt = parse_text_table("notes.txt", "first doc\n\n  \nsecond\n");
  ASSERT_EQ(txt.records.size(), 2u);
  EXPECT_EQ(txt.records[1].fields.at("text"), "second");
  EXPECT_EQ(txt.records[1].line, 4);
  EXPECT_ERROR("d.parquet", "x", "unknown text format '.parquet'");
}

TEST(TextTable, InvalidUtf8IsReplacedAndCounted) {
  // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate, and valid é.
  const std::string bad = "a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xc3\xa9";
  EXPECT_EQ(valid_utf8(bad), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
                             "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "e\xc3\xa9");
  bool replaced = true;
  EXPECT_EQ(valid_utf8("plain é", &replaced), "plain é");
  EXPECT_FALSE(replaced);
  const TextTable t = parse_text_table("d.tsv", "text\tlabel\nok\tham\n" + bad + "\tspam\n");
  EXPECT_EQ(t.invalid_utf8, 1);
  EXPECT_EQ(t.records[1].fields.at("text"), valid_utf8(bad));
  const TextTable j = parse_text_table("d.jsonl", "{\"text\": \"x\xff y\"}\n");
  EXPECT_EQ(j.invalid_utf8, 1);
  EXPECT_EQ(j.records[0].fields.at("text"), "x\xef\xbf\xbd y");
}

TEST(TextTable, RecordSizePolicy) {
  // Ten million characters on one line are read; more than 16 MiB is an error naming the line.
  const std::string long_text(10'000'000, 'a');
  const TextTable t = parse_text_table("big.tsv", "text\n" + long_text + "\n");
  EXPECT_EQ(t.records[0].fields.at("text").size(), long_text.size());
  EXPECT_ERROR("huge.txt", "x\n" + std::string(kMaxRecordBytes + 1, 'b') + "\n", "huge.txt:2: the record is");
}

TEST(TextTable, MissingFieldNamesFileLineAndField) {
  const TextTable t = parse_text_table("d.jsonl", "{\"body\": \"x\"}\n");
  try {
    field_of(t, t.records[0], "subject");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.jsonl:1: no field 'subject' (the record has: body)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace heed::data
