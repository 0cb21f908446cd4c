// Fuzz target: storage-URL parsing (detail::parse_storage_url), the secret
// scan (detail::find_secrets) and its three users, redact_url,
// pq::may_hold_password and pq::scrub, which together decide what an error
// message may show of a connection string.
//
// Properties checked for every input:
// - no function throws;
// - find_secrets returns spans inside the input, in order, not overlapping;
//   redact_url is the input with exactly those spans replaced by "***";
//   may_hold_password is true whenever there is a span; scrub removes every
//   span's text (of 2 bytes or more, without '*') from a message that
//   quotes the whole input;
// - a URL with a NUL byte is rejected; a parsed sqlite: URL has a non-empty
//   path, which is the text after "sqlite:" or "sqlite://"; a parsed
//   PostgreSQL URL is passed on unchanged; a rejection is invalid_argument
//   with a one-line, valid UTF-8 message of bounded length;
// - redaction hides the password of scheme://user:PASSWORD@host: PASSWORD
//   appears fewer times in the redacted text than in the input (it may
//   legitimately appear elsewhere too, e.g. as the host name);
// - with libpq as the reference: libpq reads neither the input's password
//   nor the end of it from the redacted text.
#include "core/conninfo.hpp"
#include "core/storage_url.hpp"
#include "fuzz_support.hpp"

#include <kauri_quota/storage.hpp>

#ifdef KAURI_QUOTA_FUZZ_WITH_LIBPQ
#include "postgres/pq.hpp"  // may_hold_password and scrub, built with the PostgreSQL backend

#include <libpq-fe.h>  // PQconninfoParse: the reference reading of a connection string
#endif

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using kauri_quota_fuzz::violated;

constexpr std::size_t max_error_message_bytes = 512;

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/// The PASSWORD of "scheme://user:PASSWORD@..." read the way libpq reads
/// the userinfo of a URI (up to the first '@'), when it is non-empty and
/// contains no '@', '/' or ':'; nothing otherwise.
std::optional<std::string_view> userinfo_password(std::string_view url) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  const std::string_view scheme = url.substr(0, sep);
  if (!((scheme[0] >= 'a' && scheme[0] <= 'z') || (scheme[0] >= 'A' && scheme[0] <= 'Z'))) return std::nullopt;
  for (const char c : scheme) {
    if (!is_scheme_char(c)) return std::nullopt;
  }
  const std::string_view rest = url.substr(sep + 3);
  const std::size_t colon = rest.find_first_of(":@/");
  if (colon == std::string_view::npos || rest[colon] != ':') return std::nullopt;
  const std::size_t at = rest.find_first_of(":@/", colon + 1);
  if (at == std::string_view::npos || rest[at] != '@' || at == colon + 1) return std::nullopt;
  return rest.substr(colon + 1, at - colon - 1);
}

void check_parse(std::string_view url) {
  namespace kq = kauri_quota;
  kq::result<kq::detail::storage_url> parsed = kq::make_error(kq::errc::internal, "not parsed");
  try {
    parsed = kq::detail::parse_storage_url(url);
  } catch (...) {
    violated("parse_storage_url threw", url);
  }
  if (!parsed) {
    const kq::error& e = parsed.error();
    if (!e.is(kq::errc::invalid_argument))
      violated("parse_storage_url failed with a code other than invalid_argument", url, e.message);
    if (e.message.empty() || e.message.size() > max_error_message_bytes)
      violated("parse_storage_url error message is empty or too long", url, e.message);
    if (!kauri_quota_fuzz::valid_utf8(e.message))
      violated("parse_storage_url error message is not valid UTF-8", url, e.message);
    if (kauri_quota_fuzz::has_control_character(e.message))
      violated("parse_storage_url error message is not one printable line", url, e.message);
    return;
  }
  const kq::detail::storage_url& parsed_url = parsed.value();
  if (url.find('\0') != std::string_view::npos)
    violated("parse_storage_url accepted a NUL byte", url, parsed_url.target);
  if (parsed_url.backend == kq::detail::storage_url::kind::sqlite) {
    if (url.substr(0, 7) != "sqlite:")
      violated("sqlite backend for a URL not starting with sqlite:", url, parsed_url.target);
    std::string_view path = url.substr(7);
    if (path.substr(0, 2) == "//") path.remove_prefix(2);
    if (parsed_url.target.empty()) violated("sqlite URL parsed with an empty path", url);
    if (parsed_url.target != path)
      violated("sqlite path is not the text after sqlite: or sqlite://", url, parsed_url.target);
  } else if (parsed_url.target != url) {
    violated("PostgreSQL connection string not passed on unchanged", url, parsed_url.target);
  }
}

#ifdef KAURI_QUOTA_FUZZ_WITH_LIBPQ
/// The password libpq reads from `conninfo` (the last one given), if
/// libpq accepts the connection string at all.
std::optional<std::string> libpq_password(const std::string& conninfo) {
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &message);
  if (message != nullptr) PQfreemem(message);
  if (options == nullptr) return std::nullopt;
  std::optional<std::string> password;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string_view{o->keyword} == "password" && o->val != nullptr) password = o->val;
  }
  PQconninfoFree(options);
  return password;
}

/// Compares what libpq reads as the password of the input and of the
/// redacted text. Redaction may change how libpq splits the text (it
/// removes quotes and slashes), so the redacted text may show a "password"
/// that the input did not have; that hides nothing. It is a leak when libpq
/// reads the input's password itself from the redacted text, or "***"
/// followed by the end of the input's password (a value cut short). Text
/// after "***" may also be the next option, as in `password='x'dbname=d`
/// becoming `password=***dbname=d`; that is not a leak, so the end of the
/// password must be found nowhere else in the input.
void check_libpq_reading(std::string_view input, const std::string& redacted) {
  const std::optional<std::string> password = libpq_password(std::string(input));
  if (!password || password->empty() || password->find('*') != std::string::npos) return;
  const std::optional<std::string> shown = libpq_password(redacted);
  if (!shown) return;
  if (*shown == *password) {
    violated("libpq reads the input's password from the redacted URL: \"" + kauri_quota_fuzz::escaped(*shown) + "\"",
             input, redacted);
  }
  if (shown->size() <= 3 || shown->substr(0, 3) != "***") return;
  const std::string_view tail = std::string_view{*shown}.substr(3);
  if (password->size() >= tail.size() && std::string_view{*password}.substr(password->size() - tail.size()) == tail &&
      kauri_quota_fuzz::count_occurrences(input, tail) == 1) {
    violated("libpq reads *** and then the end of the input's password from the redacted URL: \"" +
                 kauri_quota_fuzz::escaped(*shown) + "\"",
             input, redacted);
  }
}
#endif

/// The spans of find_secrets, checked for shape, and the three users of
/// the scan checked against them.
void check_secret_spans(std::string_view url) {
  namespace kq = kauri_quota;
  std::vector<kq::detail::secret_span> spans;
  try {
    spans = kq::detail::find_secrets(url);
  } catch (...) {
    violated("find_secrets threw", url);
  }
  std::size_t from = 0;
  std::string expected;
  for (const auto& span : spans) {
    if (span.offset < from || span.offset > url.size() || span.length > url.size() - span.offset)
      violated("find_secrets returned a span out of order or out of bounds", url);
    expected.append(url.substr(from, span.offset - from));
    expected += "***";
    from = span.offset + span.length;
  }
  expected.append(url.substr(from));
  if (kq::redact_url(url) != expected) violated("redact_url does not replace exactly the spans of find_secrets", url);

#ifdef KAURI_QUOTA_FUZZ_WITH_LIBPQ
  if (!spans.empty() && !kq::detail::pq::may_hold_password(url))
    violated("may_hold_password is false for a string where find_secrets finds a password", url);
  std::string scrubbed;
  try {
    scrubbed = kq::detail::pq::scrub("connection string: " + std::string(url), std::string{}, url);
  } catch (...) {
    violated("scrub threw", url);
  }
  for (const auto& span : spans) {
    const std::string_view secret = url.substr(span.offset, span.length);
    if (secret.size() >= 2 && secret.find('*') == std::string_view::npos &&
        kauri_quota_fuzz::count_occurrences(scrubbed, secret) != 0)
      violated("scrub left a password that find_secrets found", url, scrubbed);
  }
#endif
}

void check_redaction(std::string_view url) {
  std::string redacted;
  try {
    redacted = kauri_quota::redact_url(url);
  } catch (...) {
    violated("redact_url threw", url);
  }

  // Passwords with '*' are skipped: the "***" put in their place could
  // itself contain them.
  if (const auto password = userinfo_password(url); password && password->find('*') == std::string_view::npos) {
    if (kauri_quota_fuzz::count_occurrences(redacted, *password) >= kauri_quota_fuzz::count_occurrences(url, *password))
      violated("redact_url left the password of scheme://user:PASSWORD@host in place", url, redacted);
  }

#ifdef KAURI_QUOTA_FUZZ_WITH_LIBPQ
  // libpq reads C strings: text after a NUL byte is not part of what it sees.
  if (url.find('\0') == std::string_view::npos) check_libpq_reading(url, redacted);
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view url{reinterpret_cast<const char*>(data), size};
  check_parse(url);
  check_secret_spans(url);
  check_redaction(url);
  return 0;
}
