// zlib (RFC 1950) compression of small byte strings held whole in memory, e.g. the SentencePiece
// model a text checkpoint carries in its metadata (tasks/text_data.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace heed::io {

// The bytes compressed at zlib's best level.
std::string deflate_bytes(std::string_view bytes);

// The bytes `deflate_bytes` compressed. Throws heed::Error naming `source` for data that is not a
// whole zlib stream (damaged, truncated, or followed by more bytes) or that would inflate to more
// than `max_bytes` (a decompression bomb stops there, not at the end of memory).
std::string inflate_bytes(std::string_view compressed, uint64_t max_bytes, const std::string& source);

}  // namespace heed::io
