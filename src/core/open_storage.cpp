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

namespace {

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

/// The percent-decoded form of a URI component (invalid escapes kept).
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// A URI: the password of the userinfo and of any "password" query
/// parameter (however its name is percent-encoded) become "***".
std::string redact_uri(std::string out, std::size_t scheme_end) {
  // The userinfo ends at the first '@' unless a '/' comes first (libpq's
  // rule, so a password may hold '?', '#' or ':'). When a '/' comes first
  // but an '@' follows before the query, the text between is masked too: a
  // password with an unencoded '/' that libpq would misread as a port.
  const std::size_t start = scheme_end + 3;
  std::size_t at = std::string::npos;
  const std::size_t stop = out.find_first_of("@/", start);
  if (stop != std::string::npos && out[stop] == '@') {
    at = stop;
  } else if (stop != std::string::npos) {
    const std::size_t later = out.find('@', stop);
    const std::size_t query = out.find('?', start);
    if (later != std::string::npos && (query == std::string::npos || later < query)) at = later;
  }
  std::size_t query_from = start;
  if (at != std::string::npos) {
    const std::size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
      at = colon + 4;
    }
    query_from = at;
  }
  std::size_t q = out.find('?', query_from);
  if (q == std::string::npos) return out;
  std::size_t pos = q + 1;
  while (pos <= out.size()) {
    std::size_t end = out.find('&', pos);
    if (end == std::string::npos) end = out.size();
    const std::size_t eq = out.find('=', pos);
    if (eq != std::string::npos && eq < end) {
      std::string key = lower(percent_decoded(out.substr(pos, eq - pos)));
      while (!key.empty() && space(key.back())) key.pop_back();
      while (!key.empty() && space(key.front())) key.erase(key.begin());
      if (key == "password") {
        out.replace(eq + 1, end - eq - 1, "***");
        end = eq + 4;
      }
    }
    pos = end + 1;
  }
  return out;
}

/// True when a keyword ("name =") starts at `i`.
bool keyword_at(const std::string& s, std::size_t i) {
  std::size_t j = i;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
  if (j == i) return false;
  while (j < s.size() && space(s[j])) ++j;
  return j < s.size() && s[j] == '=';
}

/// A keyword string: each password value becomes "***". A value runs to
/// the next keyword, so that one with a stray space, an '&' or a broken
/// quote is masked whole.
std::string redact_keywords(std::string out) {
  for (std::size_t pos = 0; (pos = out.find("password", pos)) != std::string::npos;) {
    if (pos > 0 && !space(out[pos - 1])) {
      pos += 8;
      continue;
    }
    std::size_t eq = pos + 8;
    while (eq < out.size() && space(out[eq])) ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos += 8;
      continue;
    }
    std::size_t v = eq + 1;
    while (v < out.size() && space(out[v])) ++v;
    std::size_t end = v;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end)
        if (out[end] == '\\') ++end;
      end = std::min(end + 1, out.size());
    }
    while (end < out.size()) {
      if (out[end] == '\\') {
        end = std::min(end + 2, out.size());
        continue;
      }
      if (space(out[end])) {
        std::size_t next = end;
        while (next < out.size() && space(out[next])) ++next;
        if (next >= out.size() || keyword_at(out, next)) break;
        end = next;
        continue;
      }
      ++end;
    }
    out.replace(v, end - v, "***");
    pos = v + 3;
  }
  return out;
}

}  // namespace

std::string redact_url(std::string_view url) {
  // A URI starts with its scheme, as libpq decides; anything else is a
  // keyword string, even when a value holds "://".
  std::size_t i = 0;
  while (i < url.size() &&
         (std::isalnum(static_cast<unsigned char>(url[i])) || url[i] == '+' || url[i] == '-' || url[i] == '.'))
    ++i;
  if (i > 0 && std::isalpha(static_cast<unsigned char>(url[0])) && url.substr(i, 3) == "://")
    return redact_uri(std::string(url), i);
  return redact_keywords(std::string(url));
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
