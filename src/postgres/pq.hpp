// A small RAII layer over libpq (internal): connections, results, prepared
// statements and SQLSTATE-aware errors. Every wait on the server is bounded
// by a client-side deadline, so a stopped or unreachable server makes calls
// fail instead of hang.
#pragma once

#include <kauri_quota/result.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

namespace kauri_quota::detail::pq {

struct result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
struct conn_deleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};

/// A query result; rows and columns are read as text (NULL is nullopt).
/// It may also hold the fields of one composite value (see from_record).
class rows {
 public:
  rows() = default;
  explicit rows(PGresult* r) : r_(r) {}

  /// The fields of a composite value in PostgreSQL's text form, e.g.
  /// (t,,"a ""b""",12), as a result of one row whose columns are the
  /// fields; nullopt when `text` is not such a value. A function returning
  /// a row type costs the server less as one such value than expanded into
  /// columns.
  static std::optional<rows> from_record(std::string_view text);

  int size() const noexcept { return record_ ? 1 : r_ ? PQntuples(r_.get()) : 0; }
  int columns() const noexcept { return record_ ? static_cast<int>(fields_.size()) : r_ ? PQnfields(r_.get()) : 0; }
  bool null(int row, int col) const noexcept {
    return record_ ? !fields_[static_cast<std::size_t>(col)] : PQgetisnull(r_.get(), row, col) != 0;
  }
  std::string_view text(int row, int col) const noexcept {
    if (record_) {
      const auto& f = fields_[static_cast<std::size_t>(col)];
      return f ? std::string_view(*f) : std::string_view();
    }
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::optional<std::string> opt_text(int row, int col) const {
    if (null(row, col)) return std::nullopt;
    return std::string(text(row, col));
  }
  std::int64_t i64(int row, int col) const;
  std::optional<std::int64_t> opt_i64(int row, int col) const;
  bool boolean(int row, int col) const noexcept { return !null(row, col) && text(row, col) == "t"; }
  /// Rows changed by an INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

 private:
  std::unique_ptr<PGresult, result_deleter> r_;
  bool record_ = false;
  std::vector<std::optional<std::string>> fields_;
};

/// What a failed call tells the retry logic.
struct failure {
  error err;
  std::string sqlstate;          ///< empty when the failure was not the server's answer
  std::string detail;            ///< the server's DETAIL: a KQ error's subject (see describe)
  std::string hint;              ///< the server's HINT: a KQ error's second fact
  bool connection_lost = false;  ///< the connection is unusable; the outcome may be unknown
  bool sent = false;             ///< the request may have reached the server
};

/// Parameters of a statement: text values or NULL.
using params = std::vector<std::optional<std::string>>;

struct connect_options {
  std::string conninfo;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds statement_timeout{5000};
};

/// Requests sent to a server and answered (or failed) since the process
/// started, over all connections: the round trips. Tests use it to prove
/// that an operation reaches the server once.
std::uint64_t round_trips() noexcept;

/// True when a connection string (parsed or not) may carry a password: it
/// contains "password", or detail::find_secrets finds one (even empty).
bool may_hold_password(std::string_view conninfo);

/// Removes the password from `text` (libpq messages may quote parts of a
/// connection string): `password` in its parsed form, and every span
/// detail::find_secrets finds in `conninfo`, as written and unquoted.
std::string scrub(std::string text, const std::string& password, std::string_view conninfo = {});

class connection {
 public:
  /// Connects within the timeout; storage_unavailable otherwise.
  static result<std::unique_ptr<connection>> open(const connect_options& opts, const std::string& password);

  /// Runs a named statement, preparing it on first use on this connection.
  /// One round trip once prepared.
  std::variant<rows, failure> exec(const char* name, const char* sql, const params& p);
  /// One statement of a pipeline (see exec_pipeline).
  struct call {
    const char* name;
    const char* sql;
    const params* values;
  };
  /// Runs named statements in pipeline mode, each followed by a sync point,
  /// so that each is its own implicit transaction (one failing does not
  /// touch the others) and all of them travel in one round trip. Returns
  /// one answer per call, in order; after a lost connection the calls not
  /// yet answered fail with connection_lost and sent set (their outcome is
  /// unknown). Statements not yet prepared here are prepared first.
  std::vector<std::variant<rows, failure>> exec_pipeline(const std::vector<call>& calls);
  /// Runs a plain statement (simple protocol, several statements allowed).
  std::variant<rows, failure> exec_simple(const std::string& sql);
  /// Runs a statement with parameters but without preparing it.
  std::variant<rows, failure> exec_params(const std::string& sql, const params& p);

  /// Replaces the client-side wait bound (statement_timeout + 2 s) until
  /// reset with std::nullopt; migrations use it for long index builds.
  void set_wait_limit(std::optional<std::chrono::milliseconds> limit) noexcept { wait_limit_ = limit; }

  bool broken() const noexcept { return broken_; }
  PGconn* raw() const noexcept { return c_.get(); }

 private:
  connection(std::unique_ptr<PGconn, conn_deleter> c, connect_options opts, std::string password)
      : c_(std::move(c)), opts_(std::move(opts)), password_(std::move(password)) {}
  std::variant<rows, failure> wait_result(bool sent);
  /// Prepares `name` unless done already on this connection.
  std::optional<failure> prepare(const char* name, const char* sql);
  /// Flushes what is queued and reads input until a result is ready or the
  /// deadline passes; a failure when the connection is lost or timed out.
  std::optional<failure> await_input(std::chrono::steady_clock::time_point deadline, bool sent);
  /// The failure that an error result carries (SQLSTATE, DETAIL, HINT).
  failure server_failure(PGresult* r) const;
  failure connection_failure(std::string_view what, bool sent);

  std::unique_ptr<PGconn, conn_deleter> c_;
  connect_options opts_;
  std::string password_;
  /// Names of the statements prepared on this connection, by their text: the
  /// same name written in two source files need not be one pointer (string
  /// literals are merged only by some builds, not by ASan's).
  std::unordered_set<std::string> prepared_;
  std::optional<std::chrono::milliseconds> wait_limit_;
  bool broken_ = false;
};

}  // namespace kauri_quota::detail::pq
