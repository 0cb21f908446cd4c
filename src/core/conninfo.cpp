#include "core/conninfo.hpp"

#include <kauri_quota/open.hpp>

#include <algorithm>
#include <cctype>
#include <string>

namespace kauri_quota {
namespace detail {
namespace {

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The percent-decoded, trimmed, lower-case form of a URI query key.
std::string query_key(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  while (!out.empty() && space(out.back())) out.pop_back();
  const auto first = std::find_if_not(out.begin(), out.end(), space);
  out.erase(out.begin(), first);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// The length of the scheme when `s` is a URI ("postgresql" of
/// "postgresql://..."), else 0.
std::size_t uri_scheme_length(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
    ++i;
  if (i > 0 && std::isalpha(static_cast<unsigned char>(s[0])) && s.substr(i, 3) == "://") return i;
  return 0;
}

void uri_secrets(std::string_view s, std::size_t scheme_length, std::vector<secret_span>& out) {
  const std::size_t start = scheme_length + 3;
  constexpr auto npos = std::string_view::npos;
  std::size_t at = npos;
  const std::size_t stop = s.find_first_of("@/", start);
  if (stop != npos && s[stop] == '@') {
    at = stop;
  } else if (stop != npos) {
    const std::size_t later = s.find('@', stop);
    const std::size_t query = s.find('?', start);
    if (later != npos && (query == npos || later < query)) at = later;
  }
  std::size_t query_from = start;
  if (at != npos) {
    // A host never holds an '@': one before the next '?' or '#' still
    // belongs to the password.
    const std::size_t end = s.find_first_of("?#", at);
    const std::size_t last = s.rfind('@', end == npos ? npos : end - 1);
    if (last != npos && last > at) at = last;
    const std::size_t colon = s.find(':', start);
    if (colon != npos && colon < at) out.push_back({colon + 1, at - colon - 1});
    query_from = at + 1;
  }
  const std::size_t q = s.find('?', query_from);
  if (q == npos) return;
  for (std::size_t pos = q + 1; pos <= s.size();) {
    std::size_t end = s.find('&', pos);
    if (end == npos) end = s.size();
    const std::size_t eq = s.find('=', pos);
    if (eq != npos && eq < end && query_key(s.substr(pos, eq - pos)) == "password")
      out.push_back({eq + 1, end - eq - 1});
    pos = end + 1;
  }
}

/// True when a keyword ("name =") starts at `i`.
bool keyword_at(std::string_view s, std::size_t i) {
  std::size_t j = i;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
  if (j == i) return false;
  while (j < s.size() && space(s[j])) ++j;
  return j < s.size() && s[j] == '=';
}

void keyword_secrets(std::string_view s, std::vector<secret_span>& out) {
  constexpr std::string_view name = "password";
  for (std::size_t pos = 0; (pos = s.find(name, pos)) != std::string_view::npos;) {
    std::size_t eq = pos + name.size();
    if (pos > 0 && !space(s[pos - 1])) {
      pos = eq;
      continue;
    }
    while (eq < s.size() && space(s[eq])) ++eq;
    if (eq >= s.size() || s[eq] != '=') {
      pos = eq;
      continue;
    }
    std::size_t v = eq + 1;
    while (v < s.size() && space(s[v])) ++v;
    std::size_t end = v;
    if (end < s.size() && s[end] == '\'') {
      for (++end; end < s.size() && s[end] != '\''; ++end)
        if (s[end] == '\\') ++end;
      end = std::min(end + 1, s.size());
    }
    while (end < s.size()) {
      if (s[end] == '\\') {
        end = std::min(end + 2, s.size());
        continue;
      }
      if (space(s[end])) {
        std::size_t next = end;
        while (next < s.size() && space(s[next])) ++next;
        if (next >= s.size() || keyword_at(s, next)) break;
        end = next;
        continue;
      }
      ++end;
    }
    out.push_back({v, end - v});
    pos = std::max(end, v + 1);
  }
}

}  // namespace

std::vector<secret_span> find_secrets(std::string_view conninfo) {
  std::vector<secret_span> out;
  if (const std::size_t scheme = uri_scheme_length(conninfo); scheme > 0) {
    uri_secrets(conninfo, scheme, out);
  } else {
    keyword_secrets(conninfo, out);
  }
  return out;
}

}  // namespace detail

std::string redact_url(std::string_view url) {
  std::string out(url);
  const auto spans = detail::find_secrets(url);
  // Back to front, so that the offsets of the spans not yet replaced hold.
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) out.replace(it->offset, it->length, "***");
  return out;
}

}  // namespace kauri_quota
