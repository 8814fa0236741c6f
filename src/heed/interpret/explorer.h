// The explorer page of `heed explain` (interpret/explanation_files.h lists what it shows).
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace heed::interpret {

// One self-contained HTML page for the attention and relevance documents of an explanation
// (and the input image's pixels, or null for text).
std::string explorer_html(const nlohmann::json& attention, const nlohmann::json& relevance,
                          const nlohmann::json& image);

}  // namespace heed::interpret
