// http(s) URLs as the gate's flags give them (the upstream, the user
// service), split into what httplib::Client takes.
#pragma once

#include <optional>
#include <string>

namespace kauri_gate {

struct http_url {
  std::string origin;  ///< scheme://host[:port], for httplib::Client
  std::string base;    ///< the path prefix without a trailing '/', may be empty
};

/// `text` as http(s)://host[:port][/base] (host a name, an IPv4 address or
/// a bracketed IPv6 address); nullopt for anything else (a query, a
/// fragment, user info, another scheme).
std::optional<http_url> parse_http_url(const std::string& text);

}  // namespace kauri_gate
