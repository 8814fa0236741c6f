// Text data files: JSONL, CSV (RFC 4180) and TSV, chosen by the file's extension, read into
// records of named string fields. Every error names the file, the line and, where there is
// one, the field.
//
// Formats:
//   .jsonl / .ndjson  one JSON object per non-empty line; string values as they are, numbers
//                     and booleans as their JSON text, null as an absent field; arrays and
//                     objects are errors.
//   .csv              a header row of field names, then records; fields separated by commas,
//                     optionally quoted with "..." ("" inside is a quote); quoted fields may
//                     span lines; CRLF or LF line ends.
//   .tsv              a header row, then one record a line, fields separated by tabs (no
//                     quoting: a field cannot hold a tab or a line break).
//   .txt              one document per non-empty line, as the field "text" (unlabelled text).
// Policies (documented in docs/text-data.md, tested):
//   invalid UTF-8: each invalid byte sequence becomes U+FFFD; the number of records touched
//     is counted (TextTable::invalid_utf8) for the caller to report;
//   size: a file is read whole up to kMaxTextFileBytes; one record may be up to
//     kMaxRecordBytes (a 10-million-character line is accepted, a longer one is an error
//     naming file and line).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace heed::data {

inline constexpr uint64_t kMaxTextFileBytes = uint64_t{4} << 30;
inline constexpr uint64_t kMaxRecordBytes = uint64_t{16} << 20;

struct TextRecord {
  int64_t line = 0;  // 1-based line where the record starts
  std::map<std::string, std::string> fields;
};

struct TextTable {
  std::string path;
  std::vector<std::string> columns;  // CSV/TSV header, or the keys seen (JSONL)
  std::vector<TextRecord> records;
  int64_t invalid_utf8 = 0;  // records in which invalid UTF-8 was replaced
};

TextTable read_text_table(const std::string& path);
// The same from bytes already in memory (`path` only names them in messages; its extension
// chooses the format). The fuzz target calls this.
TextTable parse_text_table(const std::string& path, std::string_view bytes);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD; sets `replaced` if any was.
std::string valid_utf8(std::string_view text, bool* replaced = nullptr);

// The value of `field` in `record`, or an error naming the file, line and field.
const std::string& field_of(const TextTable& table, const TextRecord& record, const std::string& field);

}  // namespace heed::data
