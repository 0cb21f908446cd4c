// Finding the secrets in a connection string (internal): the one reading
// that redact_url, may_hold_password and the libpq error scrubbing share,
// so that what is hidden in one place is hidden in all.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace kauri_quota::detail {

/// Where a password value is written in a connection string: the bytes
/// [offset, offset + length), as written (quotes, escapes and
/// percent-encoding included). A length of 0 is an empty password.
struct secret_span {
  std::size_t offset = 0;
  std::size_t length = 0;
  friend bool operator==(const secret_span&, const secret_span&) = default;
};

/// The password values of `conninfo`, in order, not overlapping. Two forms,
/// told apart as libpq does (a URI starts with a scheme and "://"; anything
/// else is a keyword string, even when a value holds "://"):
/// - a URI: the password of the userinfo, and the value of every query
///   parameter whose name, percent-decoded, trimmed and lower-cased, is
///   "password" (up to the next '&'). The userinfo ends at the first '@'
///   unless a '/' comes first (libpq's rule, so a password may hold '?',
///   '#' or ':'); when a '/' comes first, at the next '@' before the query
///   (a password holding an unencoded '/'); and it extends to the last '@'
///   before the next '?' or '#', since a host never holds an '@'.
/// - a keyword string: the value of every "password" keyword (at the start
///   or after whitespace, with optional whitespace around '='). A value runs
///   to the next keyword ("name ="), so that one with a stray space, an '&'
///   or a broken quote is found whole; a backslash escapes the next byte and
///   a quoted value runs at least to its closing quote.
std::vector<secret_span> find_secrets(std::string_view conninfo);

}  // namespace kauri_quota::detail
