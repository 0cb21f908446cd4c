// kauri-user-service: registration, login, the subscription endpoints and
// the pricing and account pages, over HTTP. See `kauri-user-service --help`
// and the README's "User service" section.
#include "cinetpay.hpp"
#include "credentials.hpp"
#include "passwords.hpp"
#include "service.hpp"

#include "host_common/http_host.hpp"
#include "host_common/jwt.hpp"
#include "host_common/options.hpp"
#include "host_common/secret.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

extern const kauri_host::asset_bundle user_service_assets;

namespace {

namespace kq = kauri_quota;
using namespace kauri_user_service;
using kauri_host::option_spec;

const std::vector<option_spec>& specs() {
  static const std::vector<option_spec> s = {
      {"db", "KAURI_QUOTA_DB", true, "sqlite:kauri_quota.db", "database URL (sqlite:PATH or postgresql://...)"},
      {"listen", "KAURI_USER_SERVICE_LISTEN", true, "127.0.0.1:8080", "HOST:PORT to listen on (port 0: a free port)"},
      {"tz", "KAURI_QUOTA_TZ", true, "UTC", "IANA time zone of quota days and months"},
      {"jwt-secret-file", "KAURI_JWT_SECRET_FILE", true, "", "file with the token secret (at least 32 bytes)"},
      {"token-ttl", "KAURI_TOKEN_TTL", true, "1h", "lifetime of an access token (90s, 30m, 1h, 2d)"},
      {"threads", "KAURI_USER_SERVICE_THREADS", true, "8", "HTTP worker threads (1-256)"},
      {"db-timeout", "KAURI_QUOTA_DB_TIMEOUT", true, "5s", "longest wait on the database (then 503)"},
      {"migrate", "KAURI_USER_SERVICE_MIGRATE", false, "", "apply pending migrations at start"},
      {"migrate-down", "", false, "",
       "revert the service's credentials migration and exit (the library's tables are kept)"},
      {"grace-period", "KAURI_QUOTA_GRACE_PERIOD", true, "3d",
       "a subscription past its end keeps its tier this long (past_due), then expires (0-90d)"},
      {"currency", "KAURI_QUOTA_CURRENCY", true, "XOF", "currency of the tier prices and payments: XOF or XAF"},
      {"cinetpay-api-url", "KAURI_CINETPAY_API_URL", true, "https://api-checkout.cinetpay.com/v2",
       "CinetPay's checkout API (requests go to URL/payment and URL/payment/check)"},
      {"cinetpay-site-id", "KAURI_CINETPAY_SITE_ID", true, "", "CinetPay site id (payments are on with the two files)"},
      {"cinetpay-api-key-file", "KAURI_CINETPAY_API_KEY_FILE", true, "", "file with the CinetPay API key"},
      {"cinetpay-secret-file", "KAURI_CINETPAY_SECRET_FILE", true, "",
       "file with the CinetPay secret key (verifies the notifications' x-token)"},
      {"cinetpay-timeout", "KAURI_CINETPAY_TIMEOUT", true, "10s", "longest wait for each CinetPay call"},
      {"public-url", "KAURI_PUBLIC_URL", true, "",
       "the service's public base URL (CinetPay's notify_url and return_url)"},
  };
  return s;
}

int fail(const std::string& message, int status = 1) {
  (void)std::fprintf(stderr, "error: %s\n", message.c_str());
  return status;
}

/// Payments are on when the site id and both key files are given; some of
/// them only is a configuration error. False with `error` set when the
/// configuration is wrong.
bool payments_config(const kauri_host::parsed_options& opts, std::optional<cinetpay_client>& out, std::string& error) {
  const bool site = opts.has("cinetpay-site-id");
  const bool key = opts.has("cinetpay-api-key-file");
  const bool secret = opts.has("cinetpay-secret-file");
  if (!site && !key && !secret) {
    if (opts.has("public-url")) (void)std::fputs("note: --public-url without CinetPay: payments are off\n", stderr);
    return true;
  }
  if (!site || !key || !secret) {
    error = "payments need all of --cinetpay-site-id, --cinetpay-api-key-file and --cinetpay-secret-file";
    return false;
  }
  cinetpay_config c;
  c.api_url = opts.get("cinetpay-api-url");
  c.site_id = opts.get("cinetpay-site-id");
  c.public_url = opts.get("public-url");
  error = normalise_urls(c);
  if (!error.empty()) return false;
  const std::optional<std::string> api_key = read_key_file(opts.get("cinetpay-api-key-file"), error);
  if (!api_key) return false;
  const std::optional<std::string> secret_key = read_key_file(opts.get("cinetpay-secret-file"), error);
  if (!secret_key) return false;
  c.api_key = *api_key;
  c.secret_key = *secret_key;
  const std::optional<std::chrono::seconds> t = kauri_host::parse_duration(opts.get("cinetpay-timeout"));
  if (!t || *t > std::chrono::minutes(2)) {
    error = "--cinetpay-timeout must be a duration from 1s to 2m";
    return false;
  }
  c.timeout = *t;
  out.emplace(std::move(c));
  return true;
}

int run(const std::vector<std::string>& args) {
  const kauri_host::parsed_options opts = kauri_host::parse_options(specs(), args, kauri_host::process_environment());
  if (opts.help) {
    (void)std::fputs(kauri_host::usage_text("kauri-user-service", specs()).c_str(), stdout);
    return 0;
  }
  if (!opts.error.empty()) return fail(opts.error + " (see --help)", 2);

  const std::optional<kauri_host::host_port> listen = kauri_host::parse_host_port(opts.get("listen"));
  if (!listen) return fail("--listen must be HOST:PORT, e.g. 127.0.0.1:8080", 2);
  const std::optional<std::chrono::seconds> ttl = kauri_host::parse_duration(opts.get("token-ttl"));
  if (!ttl) return fail("--token-ttl must be a duration such as 3600, 90s, 30m, 1h or 2d", 2);
  const std::optional<long long> threads = kauri_host::parse_integer(opts.get("threads"), 1, 256);
  if (!threads) return fail("--threads must be an integer from 1 to 256", 2);
  const std::optional<std::chrono::seconds> db_timeout = kauri_host::parse_duration(opts.get("db-timeout"));
  if (!db_timeout || *db_timeout > std::chrono::minutes(5)) {
    return fail("--db-timeout must be a duration from 1s to 5m", 2);
  }
  const std::chrono::milliseconds timeout = *db_timeout;
  const std::optional<std::chrono::seconds> grace = kauri_host::parse_grace_period(opts.get("grace-period"));
  if (!grace) return fail("--grace-period must be a duration from 0 to 90d (e.g. 3d, 12h, 0)", 2);
  const std::string currency = opts.get("currency");
  if (currency != "XOF" && currency != "XAF") return fail("--currency must be XOF or XAF", 2);
  std::optional<cinetpay_client> cinetpay;
  {
    std::string error;
    if (!payments_config(opts, cinetpay, error)) return fail(error, 2);
  }
  const std::string url = opts.get("db");

  if (!init_passwords()) return fail("cannot initialise libsodium");

  // Open the library's storage with the service's timeouts: a database that
  // does not answer makes a request fail (503) within them, never hang.
  kq::result<std::unique_ptr<kq::storage>> opened = [&]() -> kq::result<std::unique_ptr<kq::storage>> {
    if (const std::optional<std::string> path = sqlite_path_of(url)) {
      kq::sqlite_options o;
      o.path = *path;
      o.busy_timeout = timeout;
      o.pool_size = static_cast<int>(*threads);
      return kq::open_sqlite(o);
    }
    kq::postgres_options o;
    o.conninfo = url;
    o.pool_size = static_cast<int>(*threads);
    o.connect_timeout = timeout;
    o.statement_timeout = timeout;
    return kq::open_postgres(o);
  }();
  if (!opened) return fail("cannot open " + kq::redact_url(url) + ": " + opened.error().message);
  std::shared_ptr<kq::storage> store = std::move(opened).value();

  std::string error;
  std::unique_ptr<credential_store> credentials = open_credentials(url, timeout, error);
  if (!credentials) return fail(error + " (" + kq::redact_url(url) + ")");

  if (opts.has("migrate-down")) {
    if (credentials->migrate_down() != store_status::ok) return fail("cannot revert the credentials migration");
    (void)std::puts("credentials migration reverted");
    return 0;
  }
  if (opts.has("migrate")) {
    const kq::result<kq::migrate_report> report = store->migrate({});
    if (!report) return fail("migration failed: " + report.error().message);
    if (credentials->migrate_up() != store_status::ok) return fail("the credentials migration failed");
  }
  // Without --migrate, a database with pending migrations is refused at
  // start rather than failing request after request.
  const kq::result<std::vector<kq::migration_info>> migrations = store->migrations();
  if (!migrations) return fail("cannot read the schema version: " + migrations.error().message);
  for (const kq::migration_info& m : migrations.value()) {
    if (!m.applied_at) return fail("the database has pending migrations; start with --migrate");
  }
  const store_status migrated = credentials->migrated();
  if (migrated == store_status::unavailable) return fail("cannot read the credentials migration state");
  if (migrated != store_status::ok) return fail("the credentials table is missing; start with --migrate");

  const auto secret = kauri_host::load_secret_file(opts.get("jwt-secret-file"));
  if (!kauri_host::is_secret(secret)) return fail(std::get<1>(secret));
  const kauri_host::jwt_hs256 tokens(std::get<0>(secret));

  kq::service_options so;
  so.time_zone = opts.get("tz");
  so.grace_period = *grace;
  so.currency = currency;
  kq::result<kq::quota_service> quota = kq::quota_service::create(store, so);
  if (!quota) return fail(quota.error().message, 2);

  kauri_host::http_options ho;
  ho.listen = *listen;
  ho.threads = static_cast<int>(*threads);
  kauri_host::http_host host(ho);
  const service_context ctx{&quota.value(), credentials.get(),    &tokens,
                            *ttl,           &user_service_assets, cinetpay ? &*cinetpay : nullptr};
  register_routes(host, ctx);
  return host.run();
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists: only the server's signal thread gets them.
  kauri_host::block_stop_signals();
  try {
    return run(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
  } catch (const std::exception&) {
    // Nothing of the exception's text: it could quote a request.
    return fail("unexpected exception; stopping");
  }
}
