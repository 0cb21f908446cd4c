// Quoting untrusted text for error messages (internal): the one rule every
// message that repeats an input follows.
#pragma once

#include <string>
#include <string_view>

namespace kauri_quota::detail {

/// `s` quoted for an error message: at most 40 bytes of it, a '"' or '\'
/// preceded by '\', and invalid UTF-8 and control characters (C0, DEL, C1)
/// escaped byte by byte as \xNN (upper-case hex); when `s` is longer,
/// " (first N of M bytes)" follows the closing quote. A message therefore
/// never carries binary or huge input, and stays one line of valid UTF-8.
std::string quote_for_message(std::string_view s);

}  // namespace kauri_quota::detail
