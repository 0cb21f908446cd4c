// The page language from an Accept-Language header (RFC 9110 §12.5.4).
#pragma once

#include <string_view>

namespace kauri_host {

/// "en" or "fr": the supported language with the highest q-value (ties go
/// to the one listed first; "*" stands for the default), "en" when the
/// header is empty, malformed or names neither. A q of 0 excludes a
/// language.
std::string_view choose_language(std::string_view accept_language);

}  // namespace kauri_host
