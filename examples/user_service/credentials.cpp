#include "credentials.hpp"

namespace kauri_user_service {

std::unique_ptr<credential_store> make_sqlite_credentials(const std::string& path, std::chrono::milliseconds timeout,
                                                          std::string& error);
std::unique_ptr<credential_store> make_postgres_credentials(const std::string& conninfo,
                                                            std::chrono::milliseconds timeout, std::string& error);

std::optional<std::string> sqlite_path_of(const std::string& url) {
  constexpr std::string_view prefix = "sqlite:";
  if (url.rfind(prefix, 0) != 0) return std::nullopt;
  return url.substr(prefix.size());
}

std::unique_ptr<credential_store> open_credentials(const std::string& url, std::chrono::milliseconds timeout,
                                                   std::string& error) {
  if (const std::optional<std::string> path = sqlite_path_of(url)) {
    if (path->empty() || *path == ":memory:") {
      error = "the user service needs a database file (sqlite:PATH), not an in-memory database";
      return nullptr;
    }
    return make_sqlite_credentials(*path, timeout, error);
  }
  return make_postgres_credentials(url, timeout, error);
}

}  // namespace kauri_user_service
