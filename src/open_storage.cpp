// The composition root: the factories that pick a backend from a URL. It
// is the one file that includes the backends; src/core includes none of
// them (URL parsing stays there, in core/storage_url.cpp).
#include "core/storage_url.hpp"
#include "sqlite/sqlite_storage.hpp"

#include <kauri_quota/open.hpp>
#include <kauri_quota/storage.hpp>

#ifdef KAURI_QUOTA_HAVE_POSTGRES
#include "postgres/postgres_storage.hpp"
#endif

namespace kauri_quota {

result<std::unique_ptr<storage>> open_sqlite(const sqlite_options& opts) { return detail::open_sqlite_storage(opts); }

result<std::unique_ptr<storage>> open_postgres(const postgres_options& opts) {
#ifdef KAURI_QUOTA_HAVE_POSTGRES
  return detail::open_postgres_storage(opts);
#else
  (void)opts;
  return make_error(errc::unsupported, "this build of kauri_quota has no PostgreSQL backend");
#endif
}

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
    o.batch = opts.batch;
    if (opts.pool_size > 0) o.pool_size = opts.pool_size;
    return open_sqlite(o);
  }
  postgres_options o;
  o.conninfo = std::move(parsed.target);
  o.auto_migrate = opts.auto_migrate;
  o.batch = opts.batch;
  if (opts.pool_size > 0) o.pool_size = opts.pool_size;
  return open_postgres(o);
}

}  // namespace kauri_quota
