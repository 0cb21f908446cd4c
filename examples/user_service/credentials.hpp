// The service's credentials: a table of its own (kauri_user_credentials),
// never the library's tables, created and dropped by the service's own
// reversible migration (kauri_user_service_migrations, version 1). It also
// reads the original service's users.hashed_password column, when there is
// one, so that adopted users can log in (see passwords.hpp).
//
// A credential_store is safe to use from many threads; every call is one
// statement or one transaction, bounded by the database timeout.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace kauri_user_service {

enum class store_status {
  ok,
  not_found,
  exists,       ///< the email or the user id is already there
  unavailable,  ///< the database did not answer (or answered an error)
};

struct credential {
  std::string user_id;
  std::string email;  ///< lower-case
  std::string password_hash;
};

class credential_store {
 public:
  virtual ~credential_store() = default;

  /// Applies the credentials migration when it is not applied yet.
  virtual store_status migrate_up() = 0;
  /// Reverts it: drops kauri_user_credentials (the passwords are lost).
  virtual store_status migrate_down() = 0;
  /// ok when the migration is applied, not_found when it is not.
  virtual store_status migrated() = 0;

  virtual store_status find_by_email(const std::string& email, credential& out) = 0;
  virtual store_status insert(const credential& c) = 0;
  virtual store_status update_hash(const std::string& user_id, const std::string& hash) = 0;
  virtual store_status remove(const std::string& user_id) = 0;
  /// The original service's row for `email` (compared case-insensitively)
  /// with its users.hashed_password; not_found when there is no such row
  /// or no such column.
  virtual store_status find_original(const std::string& email, credential& out) = 0;
  /// ok when the database answers.
  virtual store_status ping() = 0;
};

/// `sqlite:PATH` (the file the library opened; not :memory:, which another
/// connection could not see) or a PostgreSQL URI / keyword string. nullptr
/// and `error` set when the URL is not usable.
std::unique_ptr<credential_store> open_credentials(const std::string& url, std::chrono::milliseconds timeout,
                                                   std::string& error);

/// The SQLite path of a `sqlite:` URL, or nullopt for a PostgreSQL URL.
std::optional<std::string> sqlite_path_of(const std::string& url);

}  // namespace kauri_user_service
