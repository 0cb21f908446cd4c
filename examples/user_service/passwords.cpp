#include "passwords.hpp"

#include <crypt.h>
#include <sodium.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>

namespace kauri_user_service {

namespace {

// OWASP's argon2id baseline (m = 19 MiB, t = 2, p = 1): a login costs tens
// of milliseconds, and the bounded worker pool bounds the memory.
constexpr unsigned long long ops_limit = 2;
constexpr std::size_t mem_limit = 19U * 1024U * 1024U;

}  // namespace

bool init_passwords() { return sodium_init() >= 0; }

std::optional<std::string> hash_password(std::string_view password) {
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str(out.data(), password.data(), password.size(), ops_limit, mem_limit) != 0) return std::nullopt;
  return std::string(out.data());
}

bool verify_password(const std::string& hash, std::string_view password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(const std::string& hash) {
  return crypto_pwhash_str_needs_rehash(hash.c_str(), ops_limit, mem_limit) != 0;
}

void burn_verification(std::string_view password) {
  static const std::optional<std::string> dummy = hash_password("kauri-user-service dummy password");
  if (dummy) (void)verify_password(*dummy, password);
}

bool verify_bcrypt(const std::string& hash, std::string_view password) {
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' ||
      (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y')) {
    return false;
  }
  // crypt_r takes a C string: a password with a NUL byte cannot match.
  if (password.find('\0') != std::string_view::npos) return false;
  const std::string pw(password);
  // crypt_data is large (tens of KiB): not for a worker's stack.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return false;
  return std::strlen(out) == hash.size() && sodium_memcmp(out, hash.data(), hash.size()) == 0;
}

std::string random_uuid() {
  std::array<unsigned char, 16> b{};
  randombytes_buf(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::array<char, 37> out{};
  (void)std::snprintf(out.data(), out.size(), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                      b[15]);
  return out.data();
}

}  // namespace kauri_user_service
