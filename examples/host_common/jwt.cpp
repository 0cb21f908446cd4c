#include "host_common/jwt.hpp"

#include "host_common/base64url.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <utility>

namespace kauri_host {

namespace {

using json = nlohmann::json;

constexpr std::string_view header_b64_json = R"({"alg":"HS256","typ":"JWT"})";

// A decoded segment parsed as a JSON object; nullopt for anything else
// (invalid base64url, invalid JSON, invalid UTF-8, not an object). The
// parser keeps the last of duplicate member names (RFC 7515 §4).
std::optional<json> decode_object(std::string_view segment) {
  const std::optional<std::string> bytes = base64url_decode(segment);
  if (!bytes) return std::nullopt;
  json j = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A NumericDate claim: absent, a number, or present with a wrong type.
enum class numeric_claim { absent, ok, wrong_type };

numeric_claim read_numeric(const json& payload, const char* name, double& out) {
  const auto it = payload.find(name);
  if (it == payload.end()) return numeric_claim::absent;
  if (!it->is_number()) return numeric_claim::wrong_type;
  out = it->get<double>();
  return numeric_claim::ok;
}

}  // namespace

const char* to_string(jwt_error e) noexcept {
  switch (e) {
    case jwt_error::none:
      return "none";
    case jwt_error::malformed:
      return "malformed";
    case jwt_error::wrong_algorithm:
      return "wrong_algorithm";
    case jwt_error::bad_signature:
      return "bad_signature";
    case jwt_error::missing_claim:
      return "missing_claim";
    case jwt_error::bad_claim:
      return "bad_claim";
    case jwt_error::expired:
      return "expired";
    case jwt_error::not_yet_valid:
      return "not_yet_valid";
    case jwt_error::issued_in_future:
      return "issued_in_future";
  }
  return "unknown";
}

jwt_hs256::jwt_hs256(std::string secret, std::chrono::seconds leeway) : secret_(std::move(secret)), leeway_(leeway) {}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  // One-shot HMAC() is not deprecated in OpenSSL 3.0, and with an explicit
  // output buffer it is thread-safe.
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md.data(), &md_len);
  return {reinterpret_cast<const char*>(md.data()), md_len};
}

std::string jwt_hs256::sign_payload(std::string_view payload_json) const {
  std::string input = base64url_encode(header_b64_json);
  input += '.';
  input += base64url_encode(payload_json);
  const std::string sig = hmac_sha256(secret_, input);
  input += '.';
  input += base64url_encode(sig);
  return input;
}

std::string jwt_hs256::mint(std::string_view sub, std::int64_t now, std::chrono::seconds ttl) const {
  const json payload = {{"sub", std::string(sub)}, {"iat", now}, {"nbf", now}, {"exp", now + ttl.count()}};
  return sign_payload(payload.dump());
}

jwt_verification jwt_hs256::verify(std::string_view token, std::int64_t now) const {
  jwt_verification v;
  v.error = jwt_error::malformed;
  if (token.empty() || token.size() > max_token_length) return v;
  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return v;
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return v;
  const std::string_view header_seg = token.substr(0, dot1);
  const std::string_view payload_seg = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_seg = token.substr(dot2 + 1);
  if (header_seg.empty() || payload_seg.empty() || sig_seg.empty()) return v;

  const std::optional<json> header = decode_object(header_seg);
  if (!header) return v;
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "HS256" || header->contains("crit")) {
    v.error = jwt_error::wrong_algorithm;
    return v;
  }

  const std::optional<std::string> sig = base64url_decode(sig_seg);
  if (!sig) return v;
  const std::string expected = hmac_sha256(secret_, token.substr(0, dot2));
  if (sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) {
    v.error = jwt_error::bad_signature;
    return v;
  }

  // Only a token we signed gets its payload read.
  const std::optional<json> payload = decode_object(payload_seg);
  if (!payload) return v;
  const auto sub = payload->find("sub");
  if (sub == payload->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    v.error = jwt_error::missing_claim;
    return v;
  }
  v.claims.sub = sub->get<std::string>();
  double value = 0;
  switch (read_numeric(*payload, "exp", value)) {
    case numeric_claim::absent:
      v.error = jwt_error::missing_claim;
      return v;
    case numeric_claim::wrong_type:
      v.error = jwt_error::bad_claim;
      return v;
    case numeric_claim::ok:
      v.claims.exp = value;
      break;
  }
  for (const char* name : {"nbf", "iat"}) {
    switch (read_numeric(*payload, name, value)) {
      case numeric_claim::absent:
        break;
      case numeric_claim::wrong_type:
        v.error = jwt_error::bad_claim;
        return v;
      case numeric_claim::ok:
        (name[0] == 'n' ? v.claims.nbf : v.claims.iat) = value;
        break;
    }
  }

  const auto t = static_cast<double>(now);
  const auto leeway = static_cast<double>(leeway_.count());
  if (t >= v.claims.exp + leeway) {
    v.error = jwt_error::expired;
  } else if (v.claims.nbf && t + leeway < *v.claims.nbf) {
    v.error = jwt_error::not_yet_valid;
  } else if (v.claims.iat && t + leeway < *v.claims.iat) {
    v.error = jwt_error::issued_in_future;
  } else {
    v.error = jwt_error::none;
  }
  return v;
}

}  // namespace kauri_host
