// Opening a PostgreSQL storage, its connection pool and the retry backoff,
// and the wording of the server's errors.
#include "core/error_text.hpp"
#include "core/quote.hpp"
#include "core/sql_support.hpp"
#include "core/validate.hpp"
#include "postgres/backend.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

namespace kauri_quota::detail::postgres {

/// Words a KQ-class error with the core's functions (core/error_text), so
/// that both backends say the same thing: the server functions raise the
/// code and the facts (DETAIL the subject, HINT a second fact; see the header
/// of schema/postgres/functions/), never the words.
error describe(const failure& f, std::string_view subject) {
  const auto& st = f.sqlstate;
  if (st == "KQ001" || st == "22P02" || st == "23503") return error_text::unknown_user(subject);
  if (st == "KQ002") {
    if (f.err.message.starts_with("default tier")) return error_text::missing_default_tier(f.detail);
    return error_text::unknown_tier(f.detail.empty() ? subject : std::string_view(f.detail));
  }
  if (st == "KQ003") return error_text::request_id_reused(subject, f.err.message);
  if (st == "KQ004") return error_text::no_such_reservation(subject);
  if (st == "KQ005") {
    if (f.err.message == "expired") {
      const auto expired_at = parse_db_time(f.detail);
      std::int64_t estimate = 0;
      const auto* end = f.hint.data() + f.hint.size();
      if (expired_at && std::from_chars(f.hint.data(), end, estimate).ptr == end && !f.hint.empty())
        return error_text::reservation_expired(subject, *expired_at, estimate);
      // Not raised by this set: the facts are missing, the state is not.
      return error_text::reservation_already_closed(subject, reservation_state::expired);
    }
    if (auto state = parse_reservation_state(f.err.message))
      return error_text::reservation_already_closed(subject, *state);
    return f.err;
  }
  if (st == "KQ006") return error_text::user_exists(subject);
  if (st == "KQ007") {
    std::int64_t max = 0;
    const auto* end = f.hint.data() + f.hint.size();
    if (!f.detail.empty() && !f.hint.empty() && std::from_chars(f.hint.data(), end, max).ptr == end)
      return error_text::count_would_exceed(f.detail, max);
    return f.err;
  }
  if (st == "KQ008")
    // The library writes the transition and calls again once, so this is
    // only seen when another transition fell due in between.
    return make_error(errc::conflict,
                      fmt::format("a subscription transition of user {} fell due during the operation; retry it",
                                  detail::quote_for_message(f.detail.empty() ? subject : std::string_view(f.detail))));
  if (st == "42P01" || st == "42883" || st == "42703")
    return make_error(errc::schema_mismatch,
                      fmt::format("database schema is not the one this library needs ({}); run `kauri-quota migrate`",
                                  f.err.message));
  return f.err;
}

failure as_failure(error e) {
  failure f;
  f.err = std::move(e);
  return f;
}

result<std::unique_ptr<storage>> postgres_storage::open(const postgres_options& opts) {
  if (opts.conninfo.empty()) return make_error(errc::invalid_argument, "PostgreSQL connection string is empty");
  if (opts.pool_size < 1 || opts.pool_size > 256)
    return make_error(errc::invalid_argument, "pool_size must be between 1 and 256");
  if (opts.connect_timeout < std::chrono::milliseconds{1} || opts.connect_timeout > std::chrono::hours{1})
    return make_error(errc::invalid_argument, "connect_timeout must be between 1 ms and 1 hour");
  if (opts.statement_timeout < std::chrono::milliseconds{1} || opts.statement_timeout > std::chrono::hours{1})
    return make_error(errc::invalid_argument, "statement_timeout must be between 1 ms and 1 hour");
  if (opts.max_retries < 0 || opts.max_retries > 100)
    return make_error(errc::invalid_argument, "max_retries must be between 0 and 100");
  BOOST_OUTCOME_TRY(detail::validate_batch_options(opts.batch));
  // Parse first, so that a malformed string is invalid_argument (not a
  // connection failure) and so that the password is known for scrubbing.
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(opts.conninfo.c_str(), &err);
  if (!parsed) {
    std::string msg = err ? err : "malformed";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    // libpq's message quotes the part it could not parse, which may be the
    // password itself: a string that holds one is not described further.
    if (pq::may_hold_password(opts.conninfo))
      return make_error(errc::invalid_argument,
                        "malformed PostgreSQL connection string (not shown: it holds a password); check its quoting "
                        "and percent-encoding");
    return make_error(errc::invalid_argument, fmt::format("malformed PostgreSQL connection string {}: {}",
                                                          detail::quote_for_message(redact_url(opts.conninfo)), msg));
  }
  std::string password;
  for (auto* o = parsed; o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val) password = o->val;
  PQconninfoFree(parsed);
  std::unique_ptr<postgres_storage> s(new postgres_storage(opts));
  s->password_ = password;
  s->conn_opts_ = {opts.conninfo, opts.connect_timeout, opts.statement_timeout};
  // Connect once now so that a wrong address fails at open.
  auto c = connection::open(s->conn_opts_, password);
  if (!c) return c.error();
  // A connection in a transaction or broken is not reused: the next
  // acquire reconnects.
  s->pool_ = std::make_unique<connection_pool<connection>>(
      opts.pool_size, [](const connection& x) { return !x.broken() && PQtransactionStatus(x.raw()) == PQTRANS_IDLE; });
  s->pool_->adopt(std::move(c).value());
  if (opts.batch.enabled) s->batch_ = std::make_unique<batcher<batch_item>>(opts.batch, opts.pool_size);
  if (opts.auto_migrate) {
    auto r = s->migrate({});
    if (!r) return r.error();
  }
  return std::unique_ptr<storage>(std::move(s));
}

result<connection_pool<pq::connection>::lease> postgres_storage::acquire() {
  // A free connection is awaited no longer than a statement would run.
  return pool_->acquire([&] { return connection::open(conn_opts_, password_); }, opts_.statement_timeout);
}

std::optional<std::variant<outcome_row, failure>> postgres_storage::batched(const char* name, const char* sql,
                                                                            const params& p) {
  // Until the schema and the functions were checked once, the usual path
  // runs (and checks them).
  if (!batch_ || !ready_.load(std::memory_order_acquire)) return std::nullopt;
  batch_item item{name, sql, &p, std::nullopt};
  // A caller waits for a batch no longer than it would for a connection.
  if (!batch_->submit(
          item, [this](const std::vector<batch_item*>& items) { run_batch(items); },
          std::chrono::steady_clock::now() + opts_.statement_timeout))
    return as_failure(batch_wait_error(opts_.pool_size));
  return std::move(item.answer);
}

void postgres_storage::run_batch(const std::vector<batch_item*>& items) noexcept {
  try {
    auto c = acquire();
    if (!c) {
      // The pool stayed exhausted for the whole wait: that is every
      // caller's answer, as it would be unbatched.
      for (batch_item* it : items) it->answer = as_failure(c.error());
      return;
    }
    if (items.size() == 1) {
      items[0]->answer = exec_outcome(*c.value(), items[0]->name, items[0]->sql, *items[0]->values);
      return;
    }
    std::vector<connection::call> calls;
    calls.reserve(items.size());
    for (const batch_item* it : items) calls.push_back({it->name, it->sql, it->values});
    auto answers = c.value()->exec_pipeline(calls);
    for (std::size_t i = 0; i < items.size(); ++i) items[i]->answer = read_outcome(std::move(answers[i]));
  } catch (...) {
    // Out of memory or a bug: the items left without an answer run the
    // usual way, which reports it.
  }
}

bool postgres_storage::final_failure(const failure& f) noexcept {
  return !f.connection_lost && !serialization_conflict(f) && f.sqlstate != "KQ008";
}

void postgres_storage::backoff(int attempt_no) {
  thread_local std::mt19937 gen{std::random_device{}()};
  const int base = std::min(1000, 10 << std::min(attempt_no, 6));
  std::uniform_int_distribution<int> jitter(base / 2, base + base / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(jitter(gen)));
}

}  // namespace kauri_quota::detail::postgres
