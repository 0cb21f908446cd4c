#include "host_common/secret.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace kauri_host {

std::variant<std::string, std::string> load_secret_file(const std::string& path) {
  using out = std::variant<std::string, std::string>;
  if (path.empty()) return out(std::in_place_index<1>, "no JWT secret file given (--jwt-secret-file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return out(std::in_place_index<1>, "cannot read the JWT secret file " + path + ": " + std::strerror(errno));
  }
  std::string bytes;
  char buf[1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    bytes.append(buf, static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > max_secret_bytes) {
      return out(std::in_place_index<1>,
                 "the JWT secret file " + path + " is larger than " + std::to_string(max_secret_bytes) + " bytes");
    }
  }
  if (in.bad()) return out(std::in_place_index<1>, "cannot read the JWT secret file " + path);
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  if (bytes.size() < min_secret_bytes) {
    return out(std::in_place_index<1>, "the JWT secret in " + path + " has " + std::to_string(bytes.size()) +
                                           " bytes; at least " + std::to_string(min_secret_bytes) + " are required");
  }
  return out(std::in_place_index<0>, std::move(bytes));
}

}  // namespace kauri_host
