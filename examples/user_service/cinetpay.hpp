// CinetPay's checkout API as the user service uses it: the initialisation of
// a payment (POST BASE/payment), the check of its status (POST
// BASE/payment/check) and the x-token of its notifications (HMAC-SHA256
// with the merchant's secret key over 16 form fields in a fixed order).
//
// A notification is only a hint that something changed: the service
// verifies its token, then asks the check API, and only the check API's
// answer (ACCEPTED, with the stored amount and currency) grants anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_user_service {

struct cinetpay_config {
  std::string api_url;  ///< e.g. https://api-checkout.cinetpay.com/v2 (no trailing slash)
  std::string site_id;
  std::string api_key;
  std::string secret_key;  ///< the back office's "Secret Key" (signs notifications)
  std::string public_url;  ///< the service as the customer's browser and CinetPay reach it
  std::chrono::seconds timeout{10};
};

/// The first line of an API key or secret file (trailing CR/LF and spaces
/// removed), or nullopt with `error` set when it cannot be read, is empty
/// or is longer than 4096 bytes.
std::optional<std::string> read_key_file(const std::string& path, std::string& error);

/// Checks api_url and public_url: http:// or https://, a host, no query,
/// no fragment; trailing slashes are removed. An empty string when they are
/// fine, else the message.
std::string normalise_urls(cinetpay_config& config);

/// A transaction id CinetPay accepts and nobody can guess: `length`
/// characters of [A-Za-z0-9] from the system's random source.
std::string new_transaction_id(std::size_t length = 24);

/// CinetPay's description field refuses # / $ _ &: they become spaces.
std::string sanitise_description(std::string_view text);

/// The fields of a notification, in the order the x-token covers them.
const std::vector<std::string>& notification_fields();

/// hex(HMAC-SHA256(secret, the 16 fields concatenated)), lower case; a
/// missing field counts as "".
std::string notification_token(std::string_view secret, const std::map<std::string, std::string>& form);

/// Constant-time comparison of `given` (any case) with the expected token.
bool notification_token_valid(std::string_view secret, const std::map<std::string, std::string>& form,
                              std::string_view given);

/// An application/x-www-form-urlencoded body, decoded ('+' and %XX). A
/// repeated name keeps its first value; false when the body is malformed
/// (a bad escape).
bool parse_form(std::string_view body, std::map<std::string, std::string>& out);

struct init_request {
  std::string transaction_id;
  std::int64_t amount = 0;
  std::string currency;
  std::string description;
  std::string lang;      ///< "fr" or "en"
  std::string metadata;  ///< the user id
};

struct init_answer {
  bool ok = false;
  std::string payment_url;
  /// Why not (ok false): "HTTP 500", "code 609 AUTH_NOT_FOUND", "timed out"...
  std::string detail;
};

enum class check_verdict {
  accepted,     ///< code 00, status ACCEPTED: amount and currency say what was paid
  refused,      ///< a final failure (REFUSED, 600, 602, 604, 625, 627)
  waiting,      ///< not final yet (623, 662-664, WAITING_*), or a code that says nothing final
  unreachable,  ///< no answer (connection, timeout, HTTP error, not JSON): ask again later
};

struct check_answer {
  check_verdict verdict = check_verdict::unreachable;
  std::optional<std::int64_t> amount;
  std::string currency;
  std::string code;
  std::string message;  ///< code and message or status, for logs and failure_reason
};

class cinetpay_client {
 public:
  explicit cinetpay_client(cinetpay_config config);

  const cinetpay_config& config() const noexcept { return config_; }
  std::string notify_url() const { return config_.public_url + "/api/v1/payments/cinetpay/notify"; }
  std::string return_url() const { return config_.public_url + "/account"; }

  /// POST BASE/payment. Thread-safe (a client per call).
  init_answer initialise(const init_request& req) const;
  /// POST BASE/payment/check.
  check_answer check(const std::string& transaction_id) const;

 private:
  /// The answer's body, or nullopt with `detail` set (transport error, timeout).
  std::optional<std::string> post_json(const std::string& path, const std::string& body, int& status,
                                       std::string& detail) const;
  cinetpay_config config_;
  std::string origin_;     ///< scheme://host[:port]
  std::string base_path_;  ///< e.g. /v2
};

}  // namespace kauri_user_service
