// Every error built from a fact has the same code and the same words on
// both backends, the core's (core/error_text.hpp): the PostgreSQL functions
// raise the code and the facts, and the library words them as SQLite does.
#include "core/error_text.hpp"
#include "core/validate.hpp"
#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>

using namespace kauri_quota;
using namespace kauri_quota::testing;
namespace error_text = kauri_quota::detail::error_text;

namespace {

/// One storage of each backend, with the same users.
struct both_backends {
  test_db pg = make_test_db("postgresql");
  test_db lite = make_test_db("sqlite");
  sys_time now = at("2025-11-07T10:00:00Z");
  local_date day = date("2025-11-07");

  both_backends() {
    for (auto* db : {&pg, &lite}) {
      new_user nu;
      nu.user = user_id{"u1"};
      nu.now = now;
      must(db->store->create_user(nu));
    }
  }
};

/// Both results failed with `expected`, whose code and message they share.
template <class T>
void check_same_error(const result<T>& a, const result<T>& b, const error& expected) {
  REQUIRE_FALSE(a.has_value());
  REQUIRE_FALSE(b.has_value());
  CHECK(a.error().code == expected.code);
  CHECK(a.error().message == expected.message);
  CHECK(b.error().code == expected.code);
  CHECK(b.error().message == expected.message);
}

consume_request consume_of(const both_backends& f, std::string_view user) {
  consume_request r;
  r.user = user_id{std::string(user)};
  r.now = f.now;
  r.day = f.day;
  return r;
}

}  // namespace

TEST_CASE("an expired reservation is refused with the same words on both backends") {
  both_backends f;
  auto req = consume_of(f, "u1");
  req.reserve = true;
  req.tokens = 500;
  req.reservation_ttl = std::chrono::seconds{90};
  const auto a = must(f.pg.store->consume(req));
  const auto b = must(f.lite.store->consume(req));
  settle_request s;
  s.actual_tokens = 400;
  s.now = f.now + std::chrono::minutes{5};
  s.day = f.day;
  s.id = *a.reservation;
  const auto ra = f.pg.store->settle(s);
  s.id = *b.reservation;
  const auto rb = f.lite.store->settle(s);
  REQUIRE_FALSE(ra.has_value());
  REQUIRE_FALSE(rb.has_value());
  // The ids are random: compare each with the core's words for its own id.
  CHECK(ra.error().message ==
        error_text::reservation_expired(a.reservation->str(), f.now + std::chrono::seconds{90}, 500).message);
  CHECK(rb.error().message ==
        error_text::reservation_expired(b.reservation->str(), f.now + std::chrono::seconds{90}, 500).message);
  CHECK(ra.error().code == errc::reservation_closed);
  CHECK(rb.error().code == errc::reservation_closed);
}

TEST_CASE("a closed or missing reservation is refused with the same words on both backends") {
  both_backends f;
  auto req = consume_of(f, "u1");
  req.reserve = true;
  req.tokens = 20;
  const auto a = must(f.pg.store->consume(req));
  const auto b = must(f.lite.store->consume(req));
  settle_request s;
  s.now = f.now;
  s.day = f.day;
  for (const auto& [store, id] : {std::pair{f.pg.store, *a.reservation}, std::pair{f.lite.store, *b.reservation}}) {
    s.id = id;
    must(store->settle(s));  // released
    const auto again = store->settle(s);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == errc::reservation_closed);
    CHECK(again.error().message ==
          error_text::reservation_already_closed(id.str(), reservation_state::released).message);
  }
  s.id = reservation_id{"r_missing"};
  check_same_error(f.pg.store->settle(s), f.lite.store->settle(s), error_text::no_such_reservation("r_missing"));
  check_same_error(f.pg.store->get_reservation(s.id), f.lite.store->get_reservation(s.id),
                   error_text::no_such_reservation("r_missing"));
}

TEST_CASE("a missing default tier is named with the same words on both backends") {
  both_backends f;
  // A lapsed subscription falls back on the default tier, which is absent.
  subscription_change ch;
  ch.user = user_id{"u1"};
  ch.tier = tier_id{"pro"};
  ch.status = subscription_status::canceled;
  ch.now = f.now;
  must(f.pg.store->set_subscription(ch));
  must(f.lite.store->set_subscription(ch));
  auto req = consume_of(f, "u1");
  req.default_tier = tier_id{"bronze"};
  const auto expected = error_text::missing_default_tier("bronze");
  check_same_error(f.pg.store->consume(req), f.lite.store->consume(req), expected);
  check_same_error(f.pg.store->snapshot(req.user, f.day, f.now, req.default_tier, req.grace_period),
                   f.lite.store->snapshot(req.user, f.day, f.now, req.default_tier, req.grace_period), expected);
  record_request rec;
  rec.user = req.user;
  rec.now = f.now;
  rec.day = f.day;
  rec.messages = 1;
  rec.default_tier = req.default_tier;
  check_same_error(f.pg.store->record(rec), f.lite.store->record(rec), expected);
}

TEST_CASE("unknown users and tiers, an existing user and a reused request id: the same words on both backends") {
  both_backends f;
  const auto ghost = consume_of(f, "ghost");
  check_same_error(f.pg.store->consume(ghost), f.lite.store->consume(ghost), error_text::unknown_user("ghost"));
  check_same_error(f.pg.store->get_subscription(ghost.user), f.lite.store->get_subscription(ghost.user),
                   error_text::unknown_user("ghost"));
  reset_request rr;
  rr.user = ghost.user;
  rr.now = f.now;
  rr.day = f.day;
  check_same_error(f.pg.store->reset(rr), f.lite.store->reset(rr), error_text::unknown_user("ghost"));

  check_same_error(f.pg.store->get_tier(tier_id{"gold"}), f.lite.store->get_tier(tier_id{"gold"}),
                   error_text::unknown_tier("gold"));
  tier_update tu;
  tu.id = tier_id{"gold"};
  tu.messages_per_day = limit{3};
  check_same_error(f.pg.store->update_tier(tu, f.now), f.lite.store->update_tier(tu, f.now),
                   error_text::unknown_tier("gold"));
  subscription_change ch;
  ch.user = user_id{"u1"};
  ch.tier = tier_id{"gold"};
  ch.now = f.now;
  check_same_error(f.pg.store->set_subscription(ch), f.lite.store->set_subscription(ch),
                   error_text::unknown_tier("gold"));
  new_user nu;
  nu.user = user_id{"u2"};
  nu.tier = tier_id{"gold"};
  nu.now = f.now;
  check_same_error(f.pg.store->create_user(nu), f.lite.store->create_user(nu), error_text::unknown_tier("gold"));
  nu.user = user_id{"u1"};
  nu.tier = tier_id{"free"};
  check_same_error(f.pg.store->create_user(nu), f.lite.store->create_user(nu), error_text::user_exists("u1"));

  auto keyed = consume_of(f, "u1");
  keyed.ctx.id = request_id{"req-1"};
  must(f.pg.store->consume(keyed));
  must(f.lite.store->consume(keyed));
  keyed.tokens = 7;
  check_same_error(f.pg.store->consume(keyed), f.lite.store->consume(keyed),
                   error_text::request_id_reused("req-1", "consume"));
  record_request rec;
  rec.user = keyed.user;
  rec.now = f.now;
  rec.day = f.day;
  rec.ctx = keyed.ctx;
  check_same_error(f.pg.store->record(rec), f.lite.store->record(rec),
                   error_text::request_id_reused("req-1", "consume"));
}

TEST_CASE("a counter that would pass its bound is refused with the same words on both backends") {
  both_backends f;
  record_request rec;
  rec.user = user_id{"u1"};
  rec.now = f.now;
  rec.day = f.day;
  rec.tokens = detail::max_count - 5;
  must(f.pg.store->record(rec));
  must(f.lite.store->record(rec));
  rec.tokens = 6;
  check_same_error(f.pg.store->record(rec), f.lite.store->record(rec),
                   error_text::count_would_exceed("tokens_this_month", detail::max_count));
  rec.tokens = 0;
  rec.messages = detail::max_count + 1;
  check_same_error(f.pg.store->record(rec), f.lite.store->record(rec),
                   error_text::count_would_exceed("messages_this_month", detail::max_count));
}
