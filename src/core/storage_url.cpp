#include "core/storage_url.hpp"

#include "core/quote.hpp"

#include <kauri_quota/open.hpp>

#include <fmt/format.h>

namespace kauri_quota::detail {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_keyword_conninfo(std::string_view url) {
  return url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos;
}

}  // namespace

result<storage_url> parse_storage_url(std::string_view url) {
  if (url.empty())
    return make_error(
        errc::invalid_argument,
        "empty storage URL: expected sqlite:PATH, sqlite::memory:, postgresql://... or host=... dbname=...");
  if (url.find('\0') != std::string_view::npos)
    return make_error(errc::invalid_argument, "storage URL contains a NUL byte");
  if (starts_with(url, "sqlite:")) {
    std::string_view path = url.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);
    if (path.empty())
      return make_error(errc::invalid_argument, "sqlite: URL without a path (use sqlite:PATH or sqlite::memory:)");
    return storage_url{storage_url::kind::sqlite, std::string(path)};
  }
  if (starts_with(url, "postgresql://") || starts_with(url, "postgres://") || is_keyword_conninfo(url))
    return storage_url{storage_url::kind::postgresql, std::string(url)};
  return make_error(errc::invalid_argument,
                    fmt::format("unsupported storage URL {}: expected sqlite:PATH, sqlite::memory:, postgresql://... "
                                "or host=... dbname=...",
                                quote_for_message(redact_url(url))));
}

}  // namespace kauri_quota::detail
