#include "core/quote.hpp"

#include "core/utf8.hpp"

#include <fmt/format.h>

#include <cstddef>

namespace kauri_quota::detail {

std::string quote_for_message(std::string_view s) {
  constexpr std::size_t max_quoted = 40;
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const std::size_t len = utf8::decode(s, i, cp);
    const bool valid = len != 0;
    if (i + (valid ? len : 1) > max_quoted) {
      break;
    }
    if (!valid || utf8::is_control(cp)) {
      const std::size_t n = valid ? len : 1;
      for (std::size_t k = 0; k < n; ++k) {
        out += fmt::format("\\x{:02X}", static_cast<unsigned char>(s[i + k]));
      }
      i += n;
      continue;
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
    }
    out.append(s.substr(i, len));
    i += len;
  }
  out += '"';
  if (i < s.size()) {
    out += fmt::format(" (first {} of {} bytes)", i, s.size());
  }
  return out;
}

}  // namespace kauri_quota::detail
