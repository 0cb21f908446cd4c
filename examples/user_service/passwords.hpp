// Password hashing for the user service: argon2id (libsodium's
// crypto_pwhash_str, a self-describing "$argon2id$..." string) for every
// password it stores, and verification of the bcrypt "$2b$" hashes that the
// original service (passlib) left in users.hashed_password, through
// libxcrypt's crypt_r, so that adopted users keep their passwords.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kauri_user_service {

/// Initialises libsodium; false when it cannot (the service must not start).
bool init_passwords();

/// An argon2id hash of `password`; nullopt only when out of memory.
std::optional<std::string> hash_password(std::string_view password);

/// True when `password` matches the argon2id `hash`.
bool verify_password(const std::string& hash, std::string_view password);

/// True when `hash` was made with weaker parameters than hash_password uses.
bool needs_rehash(const std::string& hash);

/// Spends the time of one verification, so that an unknown email answers as
/// slowly as a wrong password.
void burn_verification(std::string_view password);

/// True when `password` matches a bcrypt hash ($2b$, $2a$ or $2y$).
bool verify_bcrypt(const std::string& hash, std::string_view password);

/// A random (version 4) UUID in its canonical lower-case form.
std::string random_uuid();

}  // namespace kauri_user_service
