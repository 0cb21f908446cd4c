// The shared signing secret, read from a file that every Kauri program
// which mints or verifies tokens is given.
#pragma once

#include <cstddef>
#include <string>
#include <variant>

namespace kauri_host {

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes).
inline constexpr std::size_t min_secret_bytes = 32;
/// A secret file larger than this is refused (it is surely the wrong file).
inline constexpr std::size_t max_secret_bytes = 4096;

/// The file's bytes with trailing CR/LF removed (so that `openssl rand -hex
/// 32 > FILE` and an editor's final newline work alike), or an error message
/// (no secret in it) when the file cannot be read, or is shorter than
/// min_secret_bytes or longer than max_secret_bytes.
std::variant<std::string, std::string> load_secret_file(const std::string& path);

/// Index 0 of the variant above holds the secret, index 1 the error.
inline bool is_secret(const std::variant<std::string, std::string>& v) noexcept { return v.index() == 0; }

}  // namespace kauri_host
