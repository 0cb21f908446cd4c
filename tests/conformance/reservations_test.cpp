// Reservations: count a message and a token estimate up front, then settle
// to the actual tokens (commit), refund (release), or let the TTL settle
// them at the estimate.
#include "support/fixtures.hpp"

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

reservation_id reserve_ok(service_fixture& f, const user_id& u, std::int64_t estimate) {
  const auto d = must(f.svc.reserve(u, estimate));
  REQUIRE(d.allowed);
  REQUIRE(d.reservation.has_value());
  CHECK_FALSE(d.reservation->empty());
  return *d.reservation;
}

}  // namespace

TEST_CASE("reserve counts the message and the token estimate at once") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto d = must(f.svc.reserve(u, 500));
  CHECK(d.allowed);
  REQUIRE(d.reservation.has_value());
  CHECK(d.quota.messages_today == 1);
  CHECK(d.quota.tokens_today == 500);
  CHECK(d.quota.tokens_this_month == 500);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.messages_this_month == 1);
  CHECK(q.tokens_today == 500);

  const auto r = must(f.svc.get_reservation(*d.reservation));
  CHECK(r.id == *d.reservation);
  CHECK(r.user == u);
  CHECK(r.usage_date == date("2025-11-07"));
  CHECK(r.messages == 1);
  CHECK(r.estimated_tokens == 500);
  CHECK_FALSE(r.actual_tokens.has_value());
  CHECK(r.state == reservation_state::open);
  CHECK(r.created_at == f.now());
  CHECK(r.expires_at == f.now() + f.svc.options().reservation_ttl);
  f.check_audit(u);
}

TEST_CASE("reserve issues a different reservation id each time") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto a = reserve_ok(f, u, 1);
  const auto b = reserve_ok(f, u, 1);
  CHECK(a != b);
}

TEST_CASE("commit settles the reservation's tokens to the actual count") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 500);
  f.advance(3s);
  const auto r = must(f.svc.commit(id, 320));
  CHECK(r.state == reservation_state::committed);
  CHECK(r.actual_tokens == std::optional<std::int64_t>{320});
  CHECK(r.estimated_tokens == 500);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 320);
  CHECK(q.tokens_this_month == 320);
  CHECK(must(f.svc.get_reservation(id)).state == reservation_state::committed);
  f.check_audit(u);
}

TEST_CASE("commit can settle above the estimate") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 100);
  must(f.svc.commit(id, 900));
  const auto q = f.quota(u);
  CHECK(q.tokens_today == 900);
  CHECK(q.tokens_this_month == 900);
  f.check_audit(u);
}

TEST_CASE("release refunds the message and the token estimate") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 10).allowed);
  const auto id = reserve_ok(f, u, 500);
  CHECK(f.quota(u).messages_today == 2);
  const auto r = must(f.svc.release(id));
  CHECK(r.state == reservation_state::released);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.messages_this_month == 1);
  CHECK(q.tokens_today == 10);
  CHECK(q.tokens_this_month == 10);
  f.check_audit(u);
}

TEST_CASE("a released reservation frees its place under the daily limit") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 4) == 4);
  const auto id = reserve_ok(f, u, 0);
  REQUIRE_FALSE(f.consume(u).allowed);
  must(f.svc.release(id));
  CHECK(f.consume(u).allowed);
  f.check_audit(u);
}

TEST_CASE("committing or releasing a settled reservation is reservation_closed and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto committed = reserve_ok(f, u, 50);
  must(f.svc.commit(committed, 40));
  const auto released = reserve_ok(f, u, 70);
  must(f.svc.release(released));
  const auto q = f.quota(u);
  const auto events = f.events(u).size();

  check_error(f.svc.commit(committed, 10), errc::reservation_closed);
  check_error(f.svc.release(committed), errc::reservation_closed);
  check_error(f.svc.commit(released, 10), errc::reservation_closed);
  check_error(f.svc.release(released), errc::reservation_closed);

  CHECK(f.quota(u) == q);
  CHECK(f.events(u).size() == events);
  CHECK(must(f.svc.get_reservation(committed)).actual_tokens == std::optional<std::int64_t>{40});
  f.check_audit(u);
}

TEST_CASE("an unknown reservation id is reservation_not_found") {
  service_fixture f;
  f.add_user("alice");
  const reservation_id nobody{"no-such-reservation"};
  check_error(f.svc.commit(nobody, 1), errc::reservation_not_found);
  check_error(f.svc.release(nobody), errc::reservation_not_found);
  check_error(f.svc.get_reservation(nobody), errc::reservation_not_found);
}

TEST_CASE("a reservation not settled within its TTL is settled at its estimate by expire_reservations") {
  service_options opts;
  opts.reservation_ttl = 60s;
  service_fixture f(opts);
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 500);
  CHECK(must(f.svc.get_reservation(id)).expires_at == f.now() + 60s);

  f.advance(30s);
  CHECK(must(f.svc.expire_reservations()) == 0);
  CHECK(must(f.svc.get_reservation(id)).state == reservation_state::open);

  f.advance(31s);
  const auto events_before = f.events(u).size();
  CHECK(must(f.svc.expire_reservations()) == 1);
  CHECK(f.events(u).size() > events_before);  // the expiry is audited
  const auto r = must(f.svc.get_reservation(id));
  CHECK(r.state == reservation_state::expired);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 500);
  CHECK(q.tokens_this_month == 500);

  check_error(f.svc.commit(id, 10), errc::reservation_closed);
  check_error(f.svc.release(id), errc::reservation_closed);
  CHECK(must(f.svc.expire_reservations()) == 0);
  CHECK(f.quota(u).tokens_today == 500);
  f.check_audit(u);
}

TEST_CASE("expire_reservations leaves settled and still-valid reservations alone") {
  service_options opts;
  opts.reservation_ttl = 60s;
  service_fixture f(opts);
  const auto u = f.add_user("alice", "pro");
  const auto committed = reserve_ok(f, u, 10);
  must(f.svc.commit(committed, 12));
  const auto stale = reserve_ok(f, u, 20);
  f.advance(50s);
  const auto fresh = reserve_ok(f, u, 30);
  f.advance(20s);
  CHECK(must(f.svc.expire_reservations()) == 1);
  CHECK(must(f.svc.get_reservation(committed)).state == reservation_state::committed);
  CHECK(must(f.svc.get_reservation(stale)).state == reservation_state::expired);
  CHECK(must(f.svc.get_reservation(fresh)).state == reservation_state::open);
  CHECK(f.quota(u).tokens_today == 12 + 20 + 30);
  f.check_audit(u);
}

TEST_CASE("a commit on the next day settles into the reservation's own day") {
  service_fixture f({}, "2025-11-07T23:59:50Z");
  const auto u = f.add_user("alice", "pro");
  const auto id = reserve_ok(f, u, 100);

  f.set_time("2025-11-08T00:00:10Z");
  const auto r = must(f.svc.commit(id, 250));
  CHECK(r.usage_date == date("2025-11-07"));
  CHECK(r.state == reservation_state::committed);

  const auto reserved_day = f.usage_on(u, date("2025-11-07"));
  CHECK(reserved_day.messages_today == 1);
  CHECK(reserved_day.tokens_today == 250);
  const auto today = f.today_usage(u);
  CHECK(today.usage_date == date("2025-11-08"));
  CHECK(today.messages_today == 0);
  CHECK(today.tokens_today == 0);
  CHECK(today.messages_this_month == 1);
  CHECK(today.tokens_this_month == 250);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("a release on the next day refunds the reservation's own day") {
  service_fixture f({}, "2025-11-07T23:59:50Z");
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 4) == 4);
  const auto id = reserve_ok(f, u, 100);
  f.set_time("2025-11-08T00:00:10Z");
  REQUIRE(f.consume(u).allowed);
  must(f.svc.release(id));

  const auto reserved_day = f.usage_on(u, date("2025-11-07"));
  CHECK(reserved_day.messages_today == 4);
  CHECK(reserved_day.tokens_today == 0);
  const auto today = f.today_usage(u);
  CHECK(today.messages_today == 1);
  CHECK(today.messages_this_month == 5);
  f.check_audit(u, {date("2025-11-07"), date("2025-11-08")});
}

TEST_CASE("a commit in the next month settles into the reservation's month") {
  service_fixture f({}, "2025-11-30T23:59:50Z");
  const auto u = f.add_user("alice", "pro");
  const auto id = reserve_ok(f, u, 100);
  f.set_time("2025-12-01T00:00:10Z");
  must(f.svc.commit(id, 400));
  CHECK(f.usage_on(u, date("2025-11-30")).tokens_today == 400);
  CHECK(f.usage_on(u, date("2025-11-30")).tokens_this_month == 400);
  const auto today = f.today_usage(u);
  CHECK(today.messages_this_month == 0);
  CHECK(today.tokens_this_month == 0);
  f.check_audit(u, {date("2025-11-30"), date("2025-12-01")});
}

TEST_CASE("reserve is denied with the daily limit like try_consume") {
  service_fixture f;
  const auto u = f.add_user("alice");
  for (int i = 0; i < 5; ++i) reserve_ok(f, u, 1);
  const auto d = must(f.svc.reserve(u, 1));
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::daily);
  CHECK_FALSE(d.reservation.has_value());
  CHECK(f.quota(u).messages_today == 5);
  f.check_audit(u);
}

TEST_CASE("reservations serialise to JSON with their state") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 10);
  const auto doc = parse_json(to_json(must(f.svc.get_reservation(id))));
  CHECK(doc.type == json_value::kind::object);
  CHECK(contains_string(doc, "open"));
}

TEST_CASE("a reservation past its TTL cannot be committed or released, even before expire_reservations runs") {
  service_options opts;
  opts.reservation_ttl = 60s;
  service_fixture f(opts);
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 500);
  f.advance(61s);
  check_error(f.svc.commit(id, 10), errc::reservation_closed);
  check_error(f.svc.release(id), errc::reservation_closed);
  CHECK(must(f.svc.get_reservation(id)).state == reservation_state::expired);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 500);
  f.check_audit(u);
}

TEST_CASE("commit never refuses: actual tokens above the token limit are recorded and deny later requests") {
  service_fixture f;
  f.set_limits("free", std::nullopt, std::nullopt, limit{100});
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 50);
  const auto r = must(f.svc.commit(id, 500));
  CHECK(r.state == reservation_state::committed);
  const auto q = f.quota(u);
  CHECK(q.tokens_this_month == 500);
  CHECK(q.tokens_remaining_month == limit{0});
  CHECK_FALSE(q.can_send_message);
  const auto d = f.consume(u);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == limit_kind::tokens);
  f.check_audit(u);
}

TEST_CASE("a reservation can be settled through another service on the same storage") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto id = reserve_ok(f, u, 100);
  auto other = f.make_service(f.clock);
  const auto r = must(other.commit(id, 70));
  CHECK(r.state == reservation_state::committed);
  CHECK(f.quota(u).tokens_today == 70);
  f.check_audit(u);
}
