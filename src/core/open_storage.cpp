// Storage URLs and the backend factories.
#include "core/sql_support.hpp"
#include "core/storage_url.hpp"
#include "core/validate.hpp"
#include "sqlite/sqlite_storage.hpp"

#include <kauri_quota/storage.hpp>

#include <fmt/format.h>

#include <cctype>

#ifdef KAURI_QUOTA_HAVE_POSTGRES
#include "postgres/postgres_storage.hpp"
#endif

namespace kauri_quota {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_keyword_conninfo(std::string_view url) {
  return url.find("://") == std::string_view::npos && url.find('=') != std::string_view::npos;
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    // userinfo: scheme://user:password@host. The password may hold
    // characters a valid URL would have encoded ('/', ':'), so the userinfo
    // runs to the last '@' before any query or fragment.
    const std::size_t auth_start = scheme + 3;
    const std::size_t auth_end = out.find_first_of("?#", auth_start);
    const std::size_t at = out.rfind('@', auth_end == std::string::npos ? out.size() : auth_end);
    if (at != std::string::npos && at > auth_start) {
      const std::size_t colon = out.find(':', auth_start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... in a query string or a keyword string. A quoted value runs
  // to its closing quote; an unquoted one to '&' or to the next "key=" (so
  // that a value with a stray space is masked whole).
  auto is_key_start = [&](std::size_t i) {
    std::size_t j = i;
    while (j < out.size() && (std::isalnum(static_cast<unsigned char>(out[j])) || out[j] == '_')) ++j;
    if (j == i) return false;
    while (j < out.size() && out[j] == ' ') ++j;
    return j < out.size() && out[j] == '=';
  };
  for (std::size_t pos = 0; (pos = out.find("password", pos)) != std::string::npos;) {
    std::size_t eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ') ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos += 8;
      continue;
    }
    std::size_t v = eq + 1;
    while (v < out.size() && out[v] == ' ') ++v;
    std::size_t end = v;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end)
        if (out[end] == '\\') ++end;
      if (end < out.size()) ++end;
    } else {
      while (end < out.size() && out[end] != '&') {
        if (out[end] == ' ') {
          std::size_t next = end;
          while (next < out.size() && out[next] == ' ') ++next;
          if (next >= out.size() || is_key_start(next)) break;
          end = next;
          continue;
        }
        ++end;
      }
    }
    out.replace(v, std::min(end, out.size()) - v, "***");
    pos = v + 3;
  }
  return out;
}

result<std::unique_ptr<storage>> open_sqlite(const sqlite_options& opts) { return detail::open_sqlite_storage(opts); }

result<std::unique_ptr<storage>> open_postgres(const postgres_options& opts) {
#ifdef KAURI_QUOTA_HAVE_POSTGRES
  return detail::open_postgres_storage(opts);
#else
  (void)opts;
  return make_error(errc::unsupported, "this build of kauri_quota has no PostgreSQL backend");
#endif
}

namespace detail {

result<storage_url> parse_storage_url(std::string_view url) {
  if (url.empty())
    return make_error(errc::invalid_argument,
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
                                detail::quote_for_message(redact_url(url))));
}

}  // namespace detail

result<std::unique_ptr<storage>> open_storage(std::string_view url, const open_options& opts) {
  if (opts.pool_size < 0 || opts.pool_size > 256)
    return make_error(errc::invalid_argument, "pool_size must be between 0 and 256");
  BOOST_OUTCOME_TRY(parsed, detail::parse_storage_url(url));
  if (parsed.backend == detail::storage_url::kind::sqlite) {
    sqlite_options o;
    o.path = parsed.target;
    o.auto_migrate = opts.auto_migrate;
    o.create = opts.create;
    o.synchronous = opts.synchronous;
    if (opts.pool_size > 0) o.pool_size = opts.pool_size;
    return open_sqlite(o);
  }
  postgres_options o;
  o.conninfo = std::move(parsed.target);
  o.auto_migrate = opts.auto_migrate;
  if (opts.pool_size > 0) o.pool_size = opts.pool_size;
  return open_postgres(o);
}

}  // namespace kauri_quota
