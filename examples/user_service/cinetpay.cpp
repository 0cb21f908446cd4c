#include "cinetpay.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace kauri_user_service {

namespace {

using json = nlohmann::json;

/// "https://host:port/path" -> origin "https://host:port", path "/path".
bool split_url(const std::string& url, std::string& origin, std::string& path) {
  std::size_t scheme_end = 0;
  if (url.rfind("http://", 0) == 0) {
    scheme_end = 7;
  } else if (url.rfind("https://", 0) == 0) {
    scheme_end = 8;
  } else {
    return false;
  }
  const std::size_t slash = url.find('/', scheme_end);
  origin = url.substr(0, slash);
  path = slash == std::string::npos ? std::string() : url.substr(slash);
  if (origin.size() == scheme_end) return false;
  if (url.find_first_of("?#@ \t\r\n") != std::string::npos) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

/// A JSON member as text: CinetPay sends codes and amounts as strings,
/// sometimes as numbers.
std::string text_of(const json& obj, const char* name) {
  if (!obj.is_object()) return {};
  const auto it = obj.find(name);
  if (it == obj.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return {};
}

std::optional<std::int64_t> amount_of(const json& data) {
  const std::string a = text_of(data, "amount");
  if (a.empty() || a.size() > 15) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : a) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::optional<std::string> read_key_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() > 4096) {
    error = path + " is larger than 4096 bytes";
    return std::nullopt;
  }
  if (const std::size_t nl = bytes.find_first_of("\r\n"); nl != std::string::npos) bytes.resize(nl);
  while (!bytes.empty() && (bytes.back() == ' ' || bytes.back() == '\t')) bytes.pop_back();
  if (bytes.empty()) {
    error = path + " is empty";
    return std::nullopt;
  }
  return bytes;
}

std::string normalise_urls(cinetpay_config& config) {
  std::string origin;
  std::string path;
  while (!config.api_url.empty() && config.api_url.back() == '/') config.api_url.pop_back();
  while (!config.public_url.empty() && config.public_url.back() == '/') config.public_url.pop_back();
  if (!split_url(config.api_url, origin, path)) {
    return "--cinetpay-api-url must be an http:// or https:// URL without query, e.g. "
           "https://api-checkout.cinetpay.com/v2";
  }
  if (config.public_url.empty()) return "--public-url is required with payments (CinetPay's notify_url and return_url)";
  if (!split_url(config.public_url, origin, path)) {
    return "--public-url must be an http:// or https:// URL without query, e.g. https://kauri.example";
  }
  return {};
}

std::string new_transaction_id(std::size_t length) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  out.reserve(length);
  while (out.size() < length) {
    std::array<unsigned char, 64> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return {};
    for (const unsigned char b : bytes) {
      // 248 = 4 * 62: no modulo bias.
      if (b < 248 && out.size() < length) out += alphabet[b % alphabet.size()];
    }
  }
  return out;
}

std::string sanitise_description(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '#' || c == '/' || c == '$' || c == '_' || c == '&') c = ' ';
  }
  return out;
}

const std::vector<std::string>& notification_fields() {
  static const std::vector<std::string> f = {
      "cpm_site_id",       "cpm_trans_id", "cpm_trans_date",  "cpm_amount",
      "cpm_currency",      "signature",    "payment_method",  "cel_phone_num",
      "cpm_phone_prefixe", "cpm_language", "cpm_version",     "cpm_payment_config",
      "cpm_page_action",   "cpm_custom",   "cpm_designation", "cpm_error_message",
  };
  return f;
}

std::string notification_token(std::string_view secret, const std::map<std::string, std::string>& form) {
  std::string data;
  for (const std::string& name : notification_fields()) {
    const auto it = form.find(name);
    if (it != form.end()) data += it->second;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  // One-shot HMAC() is not deprecated in OpenSSL 3.0.
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &mac_len);
  static constexpr std::string_view digits = "0123456789abcdef";
  std::string hex;
  hex.reserve(mac_len * 2U);
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex += digits[mac[i] >> 4U];
    hex += digits[mac[i] & 0x0fU];
  }
  return hex;
}

bool notification_token_valid(std::string_view secret, const std::map<std::string, std::string>& form,
                              std::string_view given) {
  const std::string expected = notification_token(secret, form);
  std::string lowered(given);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // The length of a hex SHA-256 is public; only the bytes are compared in
  // constant time.
  if (lowered.size() != expected.size()) return false;
  return CRYPTO_memcmp(lowered.data(), expected.data(), expected.size()) == 0;
}

bool parse_form(std::string_view body, std::map<std::string, std::string>& out) {
  out.clear();
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!url_decode(pair.substr(0, eq), name)) return false;
    if (eq != std::string_view::npos && !url_decode(pair.substr(eq + 1), value)) return false;
    out.emplace(std::move(name), std::move(value));
  }
  return true;
}

cinetpay_client::cinetpay_client(cinetpay_config config) : config_(std::move(config)) {
  (void)split_url(config_.api_url, origin_, base_path_);
}

std::optional<std::string> cinetpay_client::post_json(const std::string& path, const std::string& body, int& status,
                                                      std::string& detail) const {
  httplib::Client cli(origin_);
  cli.set_connection_timeout(config_.timeout);
  cli.set_read_timeout(config_.timeout);
  cli.set_write_timeout(config_.timeout);
  cli.set_keep_alive(false);
  cli.set_follow_location(false);
  if (origin_.rfind("https://", 0) == 0) {
    cli.enable_server_certificate_verification(true);
    std::ifstream bundle("/etc/ssl/certs/ca-certificates.crt");
    if (bundle) cli.set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
  }
  const httplib::Result r = cli.Post((base_path_ + path).c_str(), body, "application/json");
  if (!r) {
    const httplib::Error e = r.error();
    detail = e == httplib::Error::Read || e == httplib::Error::ConnectionTimeout ? "timed out or no answer"
                                                                                 : httplib::to_string(e);
    return std::nullopt;
  }
  status = r->status;
  return r->body;
}

init_answer cinetpay_client::initialise(const init_request& req) const {
  const json body = {{"apikey", config_.api_key},
                     {"site_id", config_.site_id},
                     {"transaction_id", req.transaction_id},
                     {"amount", req.amount},
                     {"currency", req.currency},
                     {"description", sanitise_description(req.description)},
                     {"notify_url", notify_url()},
                     {"return_url", return_url()},
                     {"channels", "ALL"},
                     {"lang", req.lang},
                     {"metadata", req.metadata}};
  init_answer out;
  int status = 0;
  const std::optional<std::string> text = post_json("/payment", body.dump(), status, out.detail);
  if (!text) return out;
  const json answer = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  const std::string code = text_of(answer, "code");
  if (answer.is_discarded() || !answer.is_object()) {
    out.detail = "HTTP " + std::to_string(status) + ", not JSON";
    return out;
  }
  const auto data = answer.find("data");
  const std::string url = data != answer.end() ? text_of(*data, "payment_url") : std::string();
  if (code != "201" || url.empty()) {
    out.detail = "code " + (code.empty() ? std::string("none") : code) + " " + text_of(answer, "message");
    if (code == "201") out.detail += " without data.payment_url";
    return out;
  }
  out.ok = true;
  out.payment_url = url;
  return out;
}

check_answer cinetpay_client::check(const std::string& transaction_id) const {
  const json body = {{"apikey", config_.api_key}, {"site_id", config_.site_id}, {"transaction_id", transaction_id}};
  check_answer out;
  int status = 0;
  const std::optional<std::string> text = post_json("/payment/check", body.dump(), status, out.message);
  if (!text) return out;
  const json answer = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object() || status >= 500) {
    out.message = "HTTP " + std::to_string(status) + (answer.is_discarded() ? ", not JSON" : "");
    return out;
  }
  out.code = text_of(answer, "code");
  const auto data_it = answer.find("data");
  const json data = data_it != answer.end() && data_it->is_object() ? *data_it : json::object();
  const std::string state = text_of(data, "status");
  out.message = out.code + " " + text_of(answer, "message") + (state.empty() ? "" : " " + state);
  static const std::set<std::string> failed_codes = {"600", "602", "604", "625", "627"};
  if (out.code == "00" && state == "ACCEPTED") {
    out.verdict = check_verdict::accepted;
    out.amount = amount_of(data);
    out.currency = text_of(data, "currency");
  } else if (state == "REFUSED" || failed_codes.count(out.code) != 0) {
    out.verdict = check_verdict::refused;
  } else {
    // 623, 662-664 and WAITING_FOR_CUSTOMER are not final; neither is a
    // configuration error (608, 609) or a code this service does not know:
    // nothing changes, and the next notification asks again.
    out.verdict = check_verdict::waiting;
  }
  return out;
}

}  // namespace kauri_user_service
