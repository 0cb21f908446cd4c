#include "postgres/pq.hpp"

#include "core/conninfo.hpp"

#include <fmt/format.h>
#include <poll.h>

#include <atomic>
#include <charconv>
#include <cstring>

namespace kauri_quota::detail::pq {
namespace {

using clock_type = std::chrono::steady_clock;

std::atomic<std::uint64_t> round_trip_count{0};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// Classifies a server error by SQLSTATE.
errc map_sqlstate(std::string_view st) {
  if (st == "KQ001") return errc::unknown_user;
  if (st == "KQ002") return errc::unknown_tier;
  if (st == "KQ003") return errc::idempotency_mismatch;
  if (st == "KQ004") return errc::reservation_not_found;
  if (st == "KQ005") return errc::reservation_closed;
  if (st == "KQ006") return errc::user_exists;
  if (st == "KQ007") return errc::invalid_argument;
  if (st == "40001" || st == "40P01") return errc::conflict;
  if (st == "57014" || st == "55P03") return errc::storage_busy;  // statement timeout, lock not available
  if (st.substr(0, 2) == "08" || st.substr(0, 2) == "57" || st.substr(0, 2) == "53") return errc::storage_unavailable;
  if (st == "22P02") return errc::unknown_user;  // a user id that the users.user_id type (UUID) cannot hold
  if (st.substr(0, 2) == "22") return errc::invalid_argument;
  if (st == "23503") return errc::unknown_user;                       // a foreign key to users
  if (st == "23502" || st == "23514") return errc::invalid_argument;  // NOT NULL / CHECK of the host's tables
  if (st == "42P01" || st == "42883" || st == "42703") return errc::schema_mismatch;
  if (st == "42501") return errc::storage_unavailable;  // insufficient privilege
  if (st == "XX001" || st == "XX002") return errc::corrupt;
  if (st.substr(0, 2) == "58") return errc::io_error;
  return errc::internal;
}

}  // namespace

std::optional<rows> rows::from_record(std::string_view t) {
  // record_out writes '(' then the fields separated by ',' then ')'. A NULL
  // field is empty; a value that is empty or holds a double quote, a
  // backslash, a parenthesis, a comma or white space is quoted, with double
  // quotes and backslashes doubled inside the quotes.
  if (t.size() < 2 || t.front() != '(' || t.back() != ')') return std::nullopt;
  rows out;
  out.record_ = true;
  const std::size_t end = t.size() - 1;
  std::size_t i = 1;
  for (;;) {
    if (i == end || t[i] == ',') {
      out.fields_.emplace_back(std::nullopt);
    } else if (t[i] == '"') {
      std::string v;
      for (++i;; ++i) {
        if (i >= end) return std::nullopt;
        const char ch = t[i];
        if (ch == '"') {
          if (i + 1 < end && t[i + 1] == '"') {
            v += '"';
            ++i;
            continue;
          }
          ++i;
          break;
        }
        if (ch == '\\') {
          if (i + 1 >= end) return std::nullopt;
          ++i;
        }
        v += t[i];
      }
      out.fields_.emplace_back(std::move(v));
    } else {
      const std::size_t start = i;
      while (i < end && t[i] != ',') {
        if (t[i] == '"' || t[i] == '\\' || t[i] == '(' || t[i] == ')') return std::nullopt;
        ++i;
      }
      out.fields_.emplace_back(std::string(t.substr(start, i - start)));
    }
    if (i == end) break;
    if (t[i] != ',') return std::nullopt;
    ++i;
  }
  return out;
}

std::int64_t rows::i64(int row, int col) const {
  auto t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

std::optional<std::int64_t> rows::opt_i64(int row, int col) const {
  if (null(row, col)) return std::nullopt;
  return i64(row, col);
}

std::int64_t rows::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  std::int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

bool may_hold_password(std::string_view conninfo) {
  // "password" anywhere also covers a keyword libpq would read that the
  // scan does not take for one (it errs on the side of hiding).
  return conninfo.find("password") != std::string_view::npos || !find_secrets(conninfo).empty();
}

namespace {
void scrub_exact(std::string& text, std::string_view secret) {
  if (secret.size() < 2) return;  // a one-character "password" would mangle every message
  for (std::size_t pos = 0; (pos = text.find(secret, pos)) != std::string::npos;) {
    text.replace(pos, secret.size(), "***");
    pos += 3;
  }
}

/// Scrubs `secret` and, since libpq may have split a malformed one at a
/// delimiter and quoted a piece, each of its pieces of 4 bytes or more.
void scrub_one(std::string& text, std::string_view secret) {
  scrub_exact(text, secret);
  std::size_t start = 0;
  for (std::size_t i = 0; i <= secret.size(); ++i) {
    if (i == secret.size() || std::string_view("/@:?&#% '\"=").find(secret[i]) != std::string_view::npos) {
      if (i - start >= 4 && i - start < secret.size()) scrub_exact(text, secret.substr(start, i - start));
      start = i + 1;
    }
  }
}
}  // namespace

std::string scrub(std::string text, const std::string& password, std::string_view conninfo) {
  scrub_one(text, password);
  // Each password as written in the connection string, and without the
  // quotes a keyword value may have.
  for (const secret_span& span : find_secrets(conninfo)) {
    std::string_view value = conninfo.substr(span.offset, span.length);
    scrub_one(text, value);
    if (!value.empty() && value.front() == '\'') value.remove_prefix(1);
    if (!value.empty() && value.back() == '\'') value.remove_suffix(1);
    scrub_one(text, value);
  }
  return text;
}

result<std::unique_ptr<connection>> connection::open(const connect_options& opts, const std::string& password) {
  const auto secs = std::max<std::int64_t>(2, (opts.connect_timeout.count() + 999) / 1000);
  const std::string timeout = std::to_string(secs);
  const std::string options =
      fmt::format("-c statement_timeout={} -c lock_timeout={} -c TimeZone=UTC -c client_min_messages=warning",
                  opts.statement_timeout.count(), opts.statement_timeout.count());
  const char* keys[] = {"dbname", "connect_timeout", "options", "application_name", "client_encoding", nullptr};
  const char* values[] = {opts.conninfo.c_str(), timeout.c_str(), options.c_str(), "kauri_quota", "UTF8", nullptr};
  std::unique_ptr<PGconn, conn_deleter> c(PQconnectdbParams(keys, values, 1));
  if (!c) return make_error(errc::storage_unavailable, "cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK)
    return make_error(
        errc::storage_unavailable,
        scrub(fmt::format("cannot connect to PostgreSQL: {}", trim(PQerrorMessage(c.get()))), password, opts.conninfo));
  PQsetNoticeProcessor(
      c.get(), [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(c.get(), 1) != 0)
    return make_error(errc::storage_unavailable, "cannot put the PostgreSQL connection in non-blocking mode");
  return std::unique_ptr<connection>(new connection(std::move(c), opts, password));
}

failure connection::connection_failure(std::string_view what, bool sent) {
  broken_ = true;
  failure f;
  f.err = make_error(errc::storage_unavailable,
                     scrub(fmt::format("PostgreSQL connection lost ({}): {}", what, trim(PQerrorMessage(c_.get()))),
                           password_, opts_.conninfo));
  f.connection_lost = true;
  f.sent = sent;
  return f;
}

std::uint64_t round_trips() noexcept { return round_trip_count.load(std::memory_order_relaxed); }

std::optional<failure> connection::await_input(clock_type::time_point deadline, bool sent) {
  const int sock = PQsocket(c_.get());
  for (;;) {
    const int flushed = PQflush(c_.get());
    if (flushed < 0) return connection_failure("send", sent);
    if (flushed == 0 && !PQisBusy(c_.get())) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0) {
      auto f = connection_failure("timed out", true);
      f.err = make_error(errc::storage_unavailable, "PostgreSQL did not answer within the statement timeout");
      return f;
    }
    pollfd p{sock, static_cast<short>(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) return connection_failure("poll", sent);
    if (n > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      if (PQconsumeInput(c_.get()) == 0) return connection_failure("receive", sent);
    }
  }
}

failure connection::server_failure(PGresult* r) const {
  failure f;
  const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  f.sqlstate = code ? code : "";
  const char* msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
  const char* hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
  if (detail) f.detail = scrub(detail, password_, opts_.conninfo);
  if (hint) f.hint = scrub(hint, password_, opts_.conninfo);
  f.err =
      make_error(map_sqlstate(f.sqlstate), scrub(msg ? msg : trim(PQresultErrorMessage(r)), password_, opts_.conninfo));
  f.sent = true;
  return f;
}

namespace {
/// Marks a server error that ends the connection (admin shutdown, a
/// connection exception) as a lost connection.
void note_fatal(failure& f, bool& broken) {
  if (f.sqlstate.substr(0, 2) == "08" || f.sqlstate == "57P01" || f.sqlstate == "57P02" || f.sqlstate == "57P03") {
    broken = true;
    f.connection_lost = true;
  }
}
}  // namespace

std::variant<rows, failure> connection::wait_result(bool sent) {
  round_trip_count.fetch_add(1, std::memory_order_relaxed);
  // The server enforces statement_timeout; the client waits a little longer
  // so that a server that stopped answering cannot hang the caller.
  const auto deadline =
      clock_type::now() + wait_limit_.value_or(opts_.statement_timeout + std::chrono::milliseconds(2000));
  if (auto f = await_input(deadline, sent)) return std::move(*f);
  // Collect every result; keep the first error or the last rows.
  std::optional<failure> err;
  rows last;
  while (PGresult* r = PQgetResult(c_.get())) {
    const auto st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
      if (!err) err = server_failure(r);
      PQclear(r);
    } else {
      last = rows(r);
    }
    if (PQstatus(c_.get()) == CONNECTION_BAD) return connection_failure("receive", true);
  }
  if (PQstatus(c_.get()) == CONNECTION_BAD) return connection_failure("receive", true);
  if (err) {
    note_fatal(*err, broken_);
    return *err;
  }
  return last;
}

std::optional<failure> connection::prepare(const char* name, const char* sql) {
  if (prepared_.contains(name)) return std::nullopt;
  if (PQsendPrepare(c_.get(), name, sql, 0, nullptr) == 0) return connection_failure("prepare", false);
  auto r = wait_result(false);
  if (auto* f = std::get_if<failure>(&r)) {
    // A failed PREPARE changed nothing on the server.
    f->sent = false;
    return std::move(*f);
  }
  prepared_.emplace(name);
  return std::nullopt;
}

std::vector<std::variant<rows, failure>> connection::exec_pipeline(const std::vector<call>& calls) {
  std::vector<std::variant<rows, failure>> out;
  out.reserve(calls.size());
  auto fail_rest = [&](const failure& f) {
    while (out.size() < calls.size()) out.emplace_back(f);
    return std::move(out);
  };
  if (broken_) return fail_rest(connection_failure("unusable", false));
  for (const call& k : calls)
    if (auto f = prepare(k.name, k.sql)) return fail_rest(*f);
  if (PQenterPipelineMode(c_.get()) == 0) return fail_rest(connection_failure("pipeline", false));
  for (const call& k : calls) {
    std::vector<const char*> values;
    values.reserve(k.values->size());
    for (const auto& v : *k.values) values.push_back(v ? v->c_str() : nullptr);
    if (PQsendQueryPrepared(c_.get(), k.name, static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0) ==
            0 ||
        PQpipelineSync(c_.get()) == 0)
      return fail_rest(connection_failure("send", true));
  }
  round_trip_count.fetch_add(1, std::memory_order_relaxed);
  auto deadline = clock_type::now() + wait_limit_.value_or(opts_.statement_timeout + std::chrono::milliseconds(2000));
  // Each call answers with its results, a NULL, then its sync point.
  std::optional<failure> err;
  rows last;
  while (out.size() < calls.size()) {
    if (auto f = await_input(deadline, true)) return fail_rest(*f);
    PGresult* r = PQgetResult(c_.get());
    if (PQstatus(c_.get()) == CONNECTION_BAD) {
      if (r) PQclear(r);
      return fail_rest(connection_failure("receive", true));
    }
    if (!r) continue;  // the end of one call's results; its sync point follows
    const auto st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      // Each call runs on the server with its own statement timeout, one
      // after another: the client's bound runs from the last answer.
      deadline = clock_type::now() + wait_limit_.value_or(opts_.statement_timeout + std::chrono::milliseconds(2000));
      if (err) {
        note_fatal(*err, broken_);
        const bool waited_out = err->sqlstate == "55P03" || err->sqlstate == "57014";
        out.emplace_back(std::move(*err));
        if (broken_) return fail_rest(connection_failure("receive", true));
        if (waited_out && out.size() < calls.size()) {
          // A statement that waited out its timeout (a lock held elsewhere)
          // would make each one behind it wait its own in turn: the batch
          // is abandoned instead, so that no caller waits for more than one
          // timeout of its batch before its own attempt. The connection is
          // dropped; the statements not answered may have run, so they are
          // reported as a lost connection, which the caller's keyed retry
          // settles exactly.
          failure f = connection_failure("abandoned", true);
          f.err = make_error(errc::storage_unavailable,
                             "a statement ahead of this one in its batch timed out waiting for a lock, so the batch "
                             "was abandoned; the operation may or may not have been applied");
          return fail_rest(f);
        }
      } else {
        out.emplace_back(std::move(last));
      }
      err.reset();
      last = rows();
    } else if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
      if (!err) err = server_failure(r);
      PQclear(r);
    } else if (st == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
      if (!err) {
        failure f;
        f.err = make_error(errc::internal, "PostgreSQL skipped a statement of the pipeline");
        f.sent = true;
        err = std::move(f);
      }
    } else {
      last = rows(r);
    }
  }
  if (PQexitPipelineMode(c_.get()) == 0) broken_ = true;  // results left unread: do not reuse it
  return out;
}

std::variant<rows, failure> connection::exec(const char* name, const char* sql, const params& p) {
  if (broken_) return connection_failure("unusable", false);
  std::vector<const char*> values;
  values.reserve(p.size());
  for (const auto& v : p) values.push_back(v ? v->c_str() : nullptr);
  if (auto f = prepare(name, sql)) return std::move(*f);
  if (PQsendQueryPrepared(c_.get(), name, static_cast<int>(p.size()), values.data(), nullptr, nullptr, 0) == 0)
    return connection_failure("send", false);
  return wait_result(true);
}

std::variant<rows, failure> connection::exec_simple(const std::string& sql) {
  if (broken_) return connection_failure("unusable", false);
  if (PQsendQuery(c_.get(), sql.c_str()) == 0) return connection_failure("send", false);
  return wait_result(true);
}

std::variant<rows, failure> connection::exec_params(const std::string& sql, const params& p) {
  if (broken_) return connection_failure("unusable", false);
  std::vector<const char*> values;
  values.reserve(p.size());
  for (const auto& v : p) values.push_back(v ? v->c_str() : nullptr);
  if (PQsendQueryParams(c_.get(), sql.c_str(), static_cast<int>(p.size()), nullptr, values.data(), nullptr, nullptr,
                        0) == 0)
    return connection_failure("send", false);
  return wait_result(true);
}

}  // namespace kauri_quota::detail::pq
