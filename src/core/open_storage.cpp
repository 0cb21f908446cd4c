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
