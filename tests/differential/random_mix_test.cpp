// The differential test: on a seeded random mix of every operation,
// PostgreSQL must answer exactly as SQLite does (which has no fast path and
// words its errors itself): results, error codes and messages, quota info,
// and at the end every audit row with its event_metadata compared
// canonically. Services with various warning thresholds (1e-6, 0.5, 0.8,
// 0.855, 1), time zones and shadow mode share each database; limits go
// from 0 to near the 10^12 bound, or none.
#include "differential/mix.hpp"
#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

constexpr std::int64_t bound = 1'000'000'000'000;  // detail::max_count

/// One service configuration, on both backends.
struct service_pair {
  std::string name;
  quota_service pg;
  quota_service lite;
};

/// The replacement of every `from` in `text` by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  return text;
}

struct checker {
  long checks = 0;

  /// Both failed with the same code and message (the PostgreSQL reservation
  /// id `pg_id` read as SQLite's `lite_id`), or both succeeded.
  template <class T>
  bool same_outcome(const result<T>& a, const result<T>& b, const std::string& pg_id = {},
                    const std::string& lite_id = {}) {
    ++checks;
    REQUIRE_MESSAGE(a.has_value() == b.has_value(),
                    (a ? std::string("pg ok") : "pg: " + describe(a.error()))
                        << " / " << (b ? std::string("sqlite ok") : "sqlite: " + describe(b.error())));
    if (!a) {
      ++checks;
      CHECK(a.error().code == b.error().code);
      CHECK(replaced(a.error().message, pg_id, lite_id) == b.error().message);
    }
    return a.has_value();
  }

  void same(const decision& a, const decision& b) {
    ++checks;
    CHECK(a.allowed == b.allowed);
    CHECK(a.denied_by == b.denied_by);
    CHECK(a.replayed == b.replayed);
    CHECK(a.shadow == b.shadow);
    CHECK(a.retry_after == b.retry_after);
    CHECK(a.resets_at == b.resets_at);
    CHECK(a.suggested_tier == b.suggested_tier);
    CHECK(a.reservation.has_value() == b.reservation.has_value());
    CHECK(a.quota == b.quota);
  }
};

// The sweep settles the reservations that expired at the same instant in
// one transaction, in no specified order (each backend's index walk breaks
// the tie its own way), and their audit rows share a timestamp. Such a run
// is put in one order, by its rows' content, before the two logs are
// compared; every other row keeps its place.
std::vector<usage_event> simultaneous_expiries_in_one_order(std::vector<usage_event> events) {
  auto key = [](const usage_event& e) {
    return std::tuple(e.usage_date, e.messages_count, e.tokens_count,
                      e.event_metadata ? mix::canonical(parse_json(*e.event_metadata)) : std::string());
  };
  auto same_run = [](const usage_event& x, const usage_event& y) {
    return x.event_type == "reservation_expired" && y.event_type == "reservation_expired" &&
           x.event_timestamp == y.event_timestamp;
  };
  for (std::size_t i = 0; i < events.size();) {
    std::size_t j = i + 1;
    while (j < events.size() && same_run(events[i], events[j])) ++j;
    std::stable_sort(events.begin() + static_cast<std::ptrdiff_t>(i), events.begin() + static_cast<std::ptrdiff_t>(j),
                     [&](const usage_event& x, const usage_event& y) { return key(x) < key(y); });
    i = j;
  }
  return events;
}

}  // namespace

TEST_CASE("on a seeded random mix of every operation, PostgreSQL answers exactly as SQLite does") {
  service_fixture pg(make_test_db("postgresql"));
  service_fixture lite(make_test_db("sqlite"));
  std::vector<service_fixture*> both{&pg, &lite};
  checker chk;

  // The services: thresholds, time zones, shadow mode, a short TTL.
  struct config {
    const char* name;
    const char* zone;
    double threshold;
    bool shadow;
    int ttl_seconds;
  };
  const std::array<config, 7> configs{{{"utc-0.8", "UTC", 0.8, false, 300},
                                       {"douala-0.855", "Africa/Douala", 0.855, false, 300},
                                       {"paris-1e-6", "Europe/Paris", 1e-6, false, 120},
                                       {"new-york-1", "America/New_York", 1.0, false, 300},
                                       {"apia-0.5", "Pacific/Apia", 0.5, false, 600},
                                       {"utc-0.855-shadow", "UTC", 0.855, true, 300},
                                       {"paris-0.8-shadow", "Europe/Paris", 0.8, true, 60}}};
  std::vector<service_pair> services;
  for (const auto& c : configs) {
    service_options o = in_zone(c.zone);
    o.warning_threshold = c.threshold;
    o.shadow = c.shadow;
    o.reservation_ttl = std::chrono::seconds{c.ttl_seconds};
    services.push_back({c.name, pg.make_service(pg.clock, o), lite.make_service(lite.clock, o)});
  }

  const std::vector<std::string> users{"r0", "r1", "r2", "r3"};
  for (auto* f : both)
    for (const auto& u : users) f->add_user(u, u == "r2" ? "pro" : "free");

  std::mt19937_64 rng(20261128);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  // None, zero, small, large, or near the bound.
  auto any_limit = [&](std::int64_t lo, std::int64_t hi) -> limit {
    switch (pick(0, 9)) {
      case 0:
        return std::nullopt;
      case 1:
        return 0;
      case 2:
        return bound - pick(0, 3);
      case 3:
        return pick(1, 3);
      default:
        return pick(lo, hi);
    }
  };
  struct open_pair {
    reservation_id pg, lite;
  };
  std::vector<open_pair> open, closed;
  std::vector<std::pair<std::string, std::int64_t>> keys;  // id, tokens first used with
  int next_key = 0;
  int fast = 0;                       // consumes that a fast-path budget covered
  std::map<std::string, int> errors;  // error code -> how many

  const std::array<errc, 6> expected_errors{errc::unknown_user,          errc::unknown_tier,
                                            errc::reservation_not_found, errc::reservation_closed,
                                            errc::idempotency_mismatch,  errc::invalid_argument};
  auto count_error = [&](const auto& r) {
    if (r) return;
    for (errc e : expected_errors)
      if (r.error().is(e)) ++errors[to_string(e)];
  };

  constexpr int steps = 4000;
  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    // Half of the steps on the first service, so that its fast-path
    // budgets last from one request to the next.
    auto& svc =
        services[pick(0, 1) == 0 ? 0
                                 : static_cast<std::size_t>(pick(1, static_cast<std::int64_t>(services.size()) - 1))];
    CAPTURE(svc.name);
    const user_id u{pick(0, 49) == 0 ? std::string("ghost") : users[static_cast<std::size_t>(pick(0, 3))]};
    const auto op = pick(0, 99);
    if (op < 40) {
      auto tokens = pick(0, 3) == 0 ? pick(0, 400) : pick(0, 40);
      request_context ctx;
      if (pick(0, 7) == 0) {
        if (!keys.empty() && pick(0, 1) == 0) {
          const auto& k = keys[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(keys.size()) - 1))];
          ctx.id = request_id{k.first};
          tokens = pick(0, 2) == 0 ? tokens : k.second;  // the same arguments, or a mismatch
        } else {
          keys.emplace_back("k" + std::to_string(next_key++), tokens);
          ctx.id = request_id{keys.back().first};
        }
      }
      // Now and then (a query costs a connection), whether the fast path's
      // conditions held.
      if (svc.name == "utc-0.8" && !ctx.id && u.str() != "ghost" && step % 4 == 0) {
        const auto before = mix::budget(pg, u.str(), pg.today());
        if (before.rfind("0.8|", 0) == 0) {
          const auto bar = before.find('|', 4);
          if (std::stoll(before.substr(4, bar - 4)) >= 1 && std::stoll(before.substr(bar + 1)) >= tokens) ++fast;
        }
      }
      auto a = svc.pg.try_consume(u, tokens, ctx);
      auto b = svc.lite.try_consume(u, tokens, ctx);
      count_error(b);
      if (chk.same_outcome(a, b)) chk.same(a.value(), b.value());
    } else if (op < 50) {
      const auto est = pick(0, 3) == 0 ? pick(0, 2000) : pick(0, 60);
      auto a = svc.pg.reserve(u, est);
      auto b = svc.lite.reserve(u, est);
      count_error(b);
      if (chk.same_outcome(a, b)) {
        chk.same(a.value(), b.value());
        if (a.value().reservation && b.value().reservation)
          open.push_back({*a.value().reservation, *b.value().reservation});
      }
    } else if (op < 58) {
      // Settle an open reservation (perhaps expired by now), settle one
      // again, or one that does not exist.
      open_pair r{reservation_id{"r_missing"}, reservation_id{"r_missing"}};
      const auto which = pick(0, 5);
      if (which <= 3 && !open.empty()) {
        const auto i = static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(open.size()) - 1));
        r = open[i];
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        closed.push_back(r);
      } else if (which == 4 && !closed.empty()) {
        r = closed[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(closed.size()) - 1))];
      }
      if (pick(0, 1) == 0) {
        const auto actual = pick(0, 5) == 0 ? pick(0, 5000) : pick(0, 90);
        auto a = svc.pg.commit(r.pg, actual);
        auto b = svc.lite.commit(r.lite, actual);
        count_error(b);
        chk.same_outcome(a, b, r.pg.str(), r.lite.str());
      } else {
        auto a = svc.pg.release(r.pg);
        auto b = svc.lite.release(r.lite);
        count_error(b);
        chk.same_outcome(a, b, r.pg.str(), r.lite.str());
      }
    } else if (op < 64) {
      // Now and then a record that nears (or would pass) the bound.
      const auto m = pick(0, 9) == 0 ? pick(0, 1) * (bound / 2) : pick(0, 2);
      const auto t = pick(0, 9) == 0 ? bound - pick(0, 1000) : pick(0, 50);
      auto a = svc.pg.increment_usage(u, m, t);
      auto b = svc.lite.increment_usage(u, m, t);
      count_error(b);
      if (chk.same_outcome(a, b)) CHECK(a.value() == b.value());
    } else if (op < 70) {
      const bool free = pick(0, 1) == 0;
      const auto per_day = free ? any_limit(0, 12) : any_limit(20, 200);
      const auto per_month = free ? any_limit(0, 40) : any_limit(100, 1000);
      const auto tokens = free ? any_limit(0, 900) : any_limit(500, 20000);
      for (auto* f : both) f->set_limits(free ? "free" : "pro", per_day, per_month, tokens);
    } else if (op < 73) {
      const auto choice = pick(0, 4);
      const tier_id t{choice == 0 ? "ghost-tier" : choice <= 2 ? "free" : "pro"};
      auto a = svc.pg.upgrade_subscription(u, t);
      auto b = svc.lite.upgrade_subscription(u, t);
      count_error(b);
      if (chk.same_outcome(a, b)) CHECK(a.value().success == b.value().success);
      auto ta = svc.pg.get_tier_config(t);
      auto tb = svc.lite.get_tier_config(t);
      count_error(tb);
      chk.same_outcome(ta, tb);
    } else if (op < 74 && u.str() != "ghost") {
      // A subscription changed behind the library.
      static const std::array<const char*, 5> statuses{"active", "trialing", "past_due", "canceled", "expired"};
      const char* status = statuses[static_cast<std::size_t>(pick(0, 4))];
      auto when = [&](std::int64_t choice) -> std::string {
        if (choice == 0) return "NULL";
        const auto t = pg.now() + std::chrono::hours{choice == 1 ? -pick(1, 48) : pick(1, 48)};
        std::string text = show(t);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
        text[10] = ' ';
        text.pop_back();
        return "'" + text + "'";
      };
      const std::string end = pick(0, 2) == 0 ? when(pick(1, 2)) : "NULL";
      const std::string trial = when(pick(0, 2));
      const std::string statement = std::string("UPDATE users SET subscription_status = '") + status +
                                    "', subscription_end_date = " + end + ", trial_end_date = " + trial +
                                    " WHERE user_id = '" + u.str() + "'";
      mix::pg_exec(pg, statement);
      mix::sqlite_exec(lite, statement);
    } else if (op < 76) {
      const bool daily = pick(0, 1) == 0;
      const std::optional<user_id> who = pick(0, 1) == 0 ? std::optional<user_id>{u} : std::nullopt;
      auto a = daily ? svc.pg.reset_daily_quotas(who) : svc.pg.reset_monthly_quotas(who);
      auto b = daily ? svc.lite.reset_daily_quotas(who) : svc.lite.reset_monthly_quotas(who);
      count_error(b);
      if (chk.same_outcome(a, b)) CHECK(a.value() == b.value());
    } else if (op < 78) {
      auto a = svc.pg.expire_reservations();
      auto b = svc.lite.expire_reservations();
      if (chk.same_outcome(a, b)) CHECK(a.value() == b.value());
    } else if (op < 80) {
      auto a = svc.pg.get_user_quota_info(u);
      auto b = svc.lite.get_user_quota_info(u);
      count_error(b);
      if (chk.same_outcome(a, b)) CHECK(a.value() == b.value());
    } else if (op < 97) {
      const auto seconds = pick(1, 3) == 1 ? pick(1, 200) : pick(60, 36000);
      for (auto* f : both) f->advance(std::chrono::seconds{seconds});
    } else {
      // Another machine's clock, a day behind or ahead.
      const auto hours = pick(0, 1) == 0 ? -pick(20, 30) : pick(20, 30);
      for (auto* f : both) f->advance(std::chrono::hours{hours});
    }
    if (step % 100 == 99) {
      for (auto& s : services) {
        for (const auto& name : users) {
          auto a = s.pg.get_user_quota_info(user_id{name});
          auto b = s.lite.get_user_quota_info(user_id{name});
          if (chk.same_outcome(a, b)) CHECK(a.value() == b.value());
        }
      }
    }
  }
  std::map<double, int> warned_at;  // threshold -> quota_warning rows
  for (const auto& name : users) {
    const user_id who{name};
    const auto a = simultaneous_expiries_in_one_order(pg.events(who));
    const auto b = simultaneous_expiries_in_one_order(lite.events(who));
    ++chk.checks;
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CAPTURE(name);
      CAPTURE(i);
      ++chk.checks;
      CHECK(a[i].event_type == b[i].event_type);
      CHECK(a[i].messages_count == b[i].messages_count);
      CHECK(a[i].tokens_count == b[i].tokens_count);
      CHECK(a[i].usage_date == b[i].usage_date);
      CHECK(a[i].quota_tier == b[i].quota_tier);
      CHECK(a[i].event_timestamp == b[i].event_timestamp);
      CHECK(a[i].event_metadata.has_value() == b[i].event_metadata.has_value());
      if (a[i].event_metadata && b[i].event_metadata) {
        CAPTURE(*a[i].event_metadata);
        CAPTURE(*b[i].event_metadata);
        CHECK(mix::canonical(parse_json(*a[i].event_metadata)) == mix::canonical(parse_json(*b[i].event_metadata)));
        if (b[i].event_type == "quota_warning")
          ++warned_at[std::stod(parse_json(*b[i].event_metadata)["threshold"].text)];
      }
    }
    pg.check_audit(who);
    lite.check_audit(who);
  }
  std::string seen;
  for (const auto& [code, n] : errors) seen += " " + code + "=" + std::to_string(n);
  MESSAGE(chk.checks << " checks over " << steps << " steps; errors compared:" << seen << "; " << fast
                     << " consumes met the fast path's conditions");
  // The mix reached the errors it is meant to compare, and the fast path.
  for (errc e : expected_errors) {
    CAPTURE(std::string(to_string(e)));
    CHECK(errors.count(to_string(e)) == 1);
  }
  CHECK(fast >= 5);
  // Warnings at the thresholds that a writer rounding to two decimals
  // would spell otherwise (0.855 as 0.85, 1e-6 as 0), compared above.
  CHECK(warned_at[0.855] > 0);
  CHECK(warned_at[1e-6] > 0);
}
