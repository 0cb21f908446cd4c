// base64url without padding (RFC 7515 §2, RFC 4648 §5), strict: the
// decoder accepts only the canonical encoding, so that one token has exactly
// one spelling and a tampered segment can never decode to the same bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kauri_host {

/// `bytes` in base64url, without '=' padding.
std::string base64url_encode(std::string_view bytes);

/// The bytes `text` encodes, or nullopt when it is not canonical base64url:
/// any character outside [A-Za-z0-9_-] (including '=', '+', '/' and
/// whitespace), a length of 1 modulo 4, or non-zero unused trailing bits.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace kauri_host
