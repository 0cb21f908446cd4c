#include "host_common/language.hpp"

#include <cctype>
#include <optional>
#include <string>

namespace kauri_host {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A qvalue: "0", "1", "0.8", "1.000" (at most three decimals), as thousandths.
std::optional<int> parse_q(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int value = (s[0] - '0') * 1000;
  if (s.size() == 1) return value;
  if (s[1] != '.' || s.size() > 5) return std::nullopt;
  int scale = 100;
  for (std::size_t i = 2; i < s.size(); ++i, scale /= 10) {
    if (std::isdigit(static_cast<unsigned char>(s[i])) == 0) return std::nullopt;
    value += (s[i] - '0') * scale;
  }
  if (value > 1000) return std::nullopt;
  return value;
}

}  // namespace

std::string_view choose_language(std::string_view header) {
  constexpr std::string_view fallback = "en";
  std::string_view best = fallback;
  int best_q = -1;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.empty()) continue;
    int q = 1000;
    if (const std::size_t semi = item.find(';'); semi != std::string_view::npos) {
      const std::string_view param = trim(item.substr(semi + 1));
      item = trim(item.substr(0, semi));
      if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') continue;
      const std::optional<int> parsed = parse_q(trim(param.substr(2)));
      if (!parsed) continue;
      q = *parsed;
    }
    // The primary subtag decides: "fr-SN" and "fr-CI" are French.
    std::string primary(item.substr(0, item.find('-')));
    for (char& c : primary) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view lang;
    if (primary == "en") {
      lang = "en";
    } else if (primary == "fr") {
      lang = "fr";
    } else if (primary == "*") {
      lang = fallback;
    } else {
      continue;
    }
    if (q > 0 && q > best_q) {
      best = lang;
      best_q = q;
    }
  }
  return best;
}

}  // namespace kauri_host
