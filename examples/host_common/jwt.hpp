// JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, RFC 7515), and
// nothing else: the algorithm is fixed by the verifier, never chosen by the
// token (RFC 8725 §3.1), so "none", HS512, RS256 and friends are refused.
//
// The user service mints tokens at login; every Kauri program that shares
// the secret file verifies them. A jwt_hs256 is immutable after
// construction and safe to use from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kauri_host {

/// Why a token was refused. The service answers every one of them with the
/// same 401; the reason is for tests and for counting, never for the client.
enum class jwt_error {
  none,
  malformed,         ///< not three base64url segments of JSON objects, or too long
  wrong_algorithm,   ///< header alg is not exactly "HS256", or a crit header
  bad_signature,     ///< the MAC does not match
  missing_claim,     ///< no sub (non-empty string) or no exp (number)
  bad_claim,         ///< exp / nbf / iat present but not a number
  expired,           ///< now >= exp + leeway
  not_yet_valid,     ///< now + leeway < nbf
  issued_in_future,  ///< now + leeway < iat
};

const char* to_string(jwt_error e) noexcept;

/// The claims a verified token carries. Times are seconds since the epoch.
struct jwt_claims {
  std::string sub;
  double exp = 0;
  std::optional<double> nbf;
  std::optional<double> iat;
};

struct jwt_verification {
  jwt_error error = jwt_error::none;
  jwt_claims claims;  ///< meaningful only when error == none
  explicit operator bool() const noexcept { return error == jwt_error::none; }
};

/// HMAC-SHA256 of `data` under `key` (32 raw bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);

class jwt_hs256 {
 public:
  /// Longest token verify() looks at; anything longer is malformed.
  static constexpr std::size_t max_token_length = 4096;

  /// `secret` is the raw key (at least 32 bytes: see load_secret_file).
  /// `leeway` is the allowed clock skew for exp, nbf and iat.
  explicit jwt_hs256(std::string secret, std::chrono::seconds leeway = std::chrono::seconds{30});

  /// A token for `sub` issued at `now` (iat, nbf) and expiring at now + ttl
  /// (exp), all integer seconds.
  std::string mint(std::string_view sub, std::int64_t now, std::chrono::seconds ttl) const;

  /// Signs an arbitrary JSON object text as the payload (tests use it to
  /// build tokens with unusual claims). The header is {"alg":"HS256","typ":"JWT"}.
  std::string sign_payload(std::string_view payload_json) const;

  /// Checks shape, header, signature (constant-time) and then the claims
  /// against `now` (seconds since the epoch), in that order.
  jwt_verification verify(std::string_view token, std::int64_t now) const;

 private:
  std::string secret_;
  std::chrono::seconds leeway_;
};

}  // namespace kauri_host
