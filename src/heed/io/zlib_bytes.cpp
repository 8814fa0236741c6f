#include "heed/io/zlib_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "heed/core/error.h"

namespace heed::io {

std::string deflate_bytes(std::string_view bytes) {
  HEED_CHECK(bytes.size() <= std::numeric_limits<uLong>::max(), "zlib: ", bytes.size(), " bytes are too many");
  uLongf size = compressBound(uLong(bytes.size()));
  std::string out(size, '\0');
  const int status = compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                               reinterpret_cast<const Bytef*>(bytes.data()), uLong(bytes.size()), Z_BEST_COMPRESSION);
  HEED_CHECK(status == Z_OK, "zlib: compress2 failed with status ", status);
  out.resize(size);
  return out;
}

std::string inflate_bytes(std::string_view compressed, uint64_t max_bytes, const std::string& source) {
  z_stream z{};
  HEED_CHECK(inflateInit(&z) == Z_OK, source, ": zlib could not start inflating");
  std::string out;
  char chunk[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  size_t fed = 0;  // zlib's avail_in is 32-bit: the input goes in in pieces
  int status = Z_OK;
  do {
    if (z.avail_in == 0 && fed < compressed.size()) {
      const size_t n = std::min<size_t>(compressed.size() - fed, std::numeric_limits<uInt>::max());
      z.avail_in = uInt(n);
      fed += n;
    }
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    status = inflate(&z, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) break;  // damaged, or (Z_BUF_ERROR) input ended early
    const size_t produced = sizeof chunk - z.avail_out;
    if (out.size() + produced > max_bytes) {
      inflateEnd(&z);
      detail::fail(source, ": compressed data inflates to more than ", max_bytes, " bytes");
    }
    out.append(chunk, produced);
  } while (status != Z_STREAM_END);
  const bool whole = status == Z_STREAM_END && z.avail_in == 0 && fed == compressed.size();
  inflateEnd(&z);
  HEED_CHECK(whole, source, ": compressed data is damaged or truncated (zlib status ", status, ")");
  return out;
}

}  // namespace heed::io
