#include "heed/data/text_table.h"

#include <nlohmann/json.hpp>
#include <set>

#include "heed/core/error.h"
#include "heed/io/atomic_file.h"
#include "heed/io/json_limits.h"

namespace heed::data {

namespace {
std::string extension_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

void check_record_size(const std::string& path, int64_t line, size_t bytes) {
  HEED_CHECK(bytes <= kMaxRecordBytes, path, ":", line, ": the record is ", bytes, " bytes, more than the limit of ",
             kMaxRecordBytes);
}

// Lines of `bytes` (LF or CRLF), each with its 1-based number.
template <class F>
void for_each_line(std::string_view bytes, F&& f) {
  int64_t line = 1;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view text = bytes.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    f(line, text);
    ++line;
    start = end + 1;
  }
}

// Replaces invalid UTF-8 in every field of `r`, counting the record once.
void repair(TextRecord& r, int64_t& invalid) {
  bool any = false;
  for (auto& [name, value] : r.fields) {
    bool replaced = false;
    value = valid_utf8(value, &replaced);
    any = any || replaced;
  }
  invalid += any;
}

void parse_jsonl(TextTable& t, std::string_view bytes) {
  std::set<std::string> seen;
  for_each_line(bytes, [&](int64_t line, std::string_view text) {
    if (text.find_first_not_of(" \t") == std::string_view::npos) return;
    check_record_size(t.path, line, text.size());
    const std::string raw(text);
    io::check_json_depth(raw, 8, t.path + ":" + std::to_string(line), "the record");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(valid_utf8(raw));  // invalid bytes become U+FFFD first
    } catch (const nlohmann::json::exception& e) {
      detail::fail(t.path, ":", line, ": not a valid JSON line: ", e.what());
    }
    HEED_CHECK(j.is_object(), t.path, ":", line, ": a JSONL record must be an object, got ", j.type_name());
    TextRecord r;
    r.line = line;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const nlohmann::json& v = it.value();
      if (v.is_null()) continue;
      HEED_CHECK(v.is_string() || v.is_number() || v.is_boolean(), t.path, ":", line, ": field '", it.key(),
                 "' is ", v.type_name(), ", not a string or number");
      r.fields[it.key()] = v.is_string() ? v.get<std::string>() : v.dump();
      seen.insert(it.key());
    }
    bool replaced = false;
    (void)valid_utf8(raw, &replaced);
    t.invalid_utf8 += replaced;
    t.records.push_back(std::move(r));
  });
  t.columns.assign(seen.begin(), seen.end());
}

// RFC 4180 with LF or CRLF line ends; `separator` ',' (quotes allowed).
void parse_csv(TextTable& t, std::string_view bytes) {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> row_lines;
  std::vector<std::string> row;
  std::string field;
  size_t record_bytes = 0;
  int64_t line = 1, row_line = 1;
  bool quoted = false, field_started = false, after_quote = false;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = after_quote = false;
  };
  auto end_row = [&] {
    end_field();
    rows.push_back(std::move(row));
    row_lines.push_back(row_line);
    row.clear();
    record_bytes = 0;
  };
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    check_record_size(t.path, row_line, ++record_bytes);
    if (quoted) {
      if (c == '"') {
        if (i + 1 < bytes.size() && bytes[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      HEED_CHECK(!field_started, t.path, ":", line, ": a quote inside an unquoted field (quote the whole field and "
                 "double the quotes inside it)");
      quoted = field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
      end_row();
      row_line = ++line;
    } else {
      HEED_CHECK(!after_quote, t.path, ":", line, ": text after a closing quote");
      field.push_back(c);
      field_started = true;
    }
  }
  HEED_CHECK(!quoted, t.path, ":", row_line, ": a quoted field is not closed before the end of the file");
  if (!row.empty() || !field.empty() || field_started) end_row();
  // Blank lines (a row of one empty field) are skipped.
  std::vector<size_t> kept;
  for (size_t r = 0; r < rows.size(); ++r)
    if (!(rows[r].size() == 1 && rows[r][0].empty())) kept.push_back(r);
  HEED_CHECK(!kept.empty(), t.path, ": no header row (the first line names the fields)");
  t.columns = rows[kept[0]];
  for (size_t k = 1; k < kept.size(); ++k) {
    const size_t r = kept[k];
    HEED_CHECK(rows[r].size() == t.columns.size(), t.path, ":", row_lines[r], ": ", rows[r].size(),
               " fields, but the header names ", t.columns.size());
    TextRecord rec;
    rec.line = row_lines[r];
    for (size_t c = 0; c < t.columns.size(); ++c) rec.fields[t.columns[c]] = std::move(rows[r][c]);
    repair(rec, t.invalid_utf8);
    t.records.push_back(std::move(rec));
  }
}

void parse_tsv(TextTable& t, std::string_view bytes) {
  bool header = true;
  for_each_line(bytes, [&](int64_t line, std::string_view text) {
    if (text.empty()) return;
    check_record_size(t.path, line, text.size());
    std::vector<std::string> fields;
    size_t start = 0;
    while (true) {
      const size_t tab = text.find('\t', start);
      fields.emplace_back(text.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    if (header) {
      t.columns = fields;
      header = false;
      return;
    }
    HEED_CHECK(fields.size() == t.columns.size(), t.path, ":", line, ": ", fields.size(),
               " fields, but the header names ", t.columns.size());
    TextRecord rec;
    rec.line = line;
    for (size_t c = 0; c < fields.size(); ++c) rec.fields[t.columns[c]] = std::move(fields[c]);
    repair(rec, t.invalid_utf8);
    t.records.push_back(std::move(rec));
  });
  HEED_CHECK(!header, t.path, ": no header row (the first line names the fields)");
}

void parse_txt(TextTable& t, std::string_view bytes) {
  t.columns = {"text"};
  for_each_line(bytes, [&](int64_t line, std::string_view text) {
    if (text.find_first_not_of(" \t") == std::string_view::npos) return;
    check_record_size(t.path, line, text.size());
    TextRecord rec;
    rec.line = line;
    rec.fields["text"] = std::string(text);
    repair(rec, t.invalid_utf8);
    t.records.push_back(std::move(rec));
  });
}
}  // namespace

std::string valid_utf8(std::string_view s, bool* replaced) {
  std::string out;
  out.reserve(s.size());
  bool any = false;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(char(c));
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, cp = c & 0x07;
    }
    bool ok = n > 0 && i + n < s.size();
    for (size_t k = 1; ok && k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
    if (ok) ok = !((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff);
    if (ok) {
      out.append(s.substr(i, n + 1));
      i += n + 1;
    } else {
      out.append("\xef\xbf\xbd");  // U+FFFD
      any = true;
      ++i;
    }
  }
  if (replaced) *replaced = any;
  return out;
}

TextTable parse_text_table(const std::string& path, std::string_view bytes) {
  TextTable t;
  t.path = path;
  const std::string ext = extension_of(path);
  if (ext == ".jsonl" || ext == ".ndjson")
    parse_jsonl(t, bytes);
  else if (ext == ".csv")
    parse_csv(t, bytes);
  else if (ext == ".tsv")
    parse_tsv(t, bytes);
  else if (ext == ".txt")
    parse_txt(t, bytes);
  else
    detail::fail(path, ": unknown text format '", ext, "' (heed reads .jsonl, .ndjson, .csv, .tsv and .txt)");
  return t;
}

TextTable read_text_table(const std::string& path) {
  const std::vector<std::byte> bytes = io::read_file(path, kMaxTextFileBytes);
  return parse_text_table(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

const std::string& field_of(const TextTable& table, const TextRecord& record, const std::string& field) {
  auto it = record.fields.find(field);
  if (it == record.fields.end()) {
    std::string have;
    for (const auto& [name, v] : record.fields) have += (have.empty() ? "" : ", ") + name;
    detail::fail(table.path, ":", record.line, ": no field '", field, "' (the record has: ",
                 have.empty() ? "no fields" : have, ")");
  }
  return it->second;
}

}  // namespace heed::data
