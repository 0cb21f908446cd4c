// Idempotency: a retry with the same (user, request_id) returns the original
// outcome and never counts twice; the same key with other arguments is
// idempotency_mismatch.
#include "support/fixtures.hpp"

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

TEST_CASE("try_consume retried with the same request_id counts once and replays the original decision") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-1");
  const auto first = f.consume(u, 10, ctx);
  CHECK(first.allowed);
  CHECK_FALSE(first.replayed);

  const auto again = f.consume(u, 10, ctx);
  CHECK(again.replayed);
  CHECK(again.allowed == first.allowed);
  CHECK(again.denied_by == first.denied_by);

  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 10);
  CHECK(f.count_events(u, "message_sent") == 1);
  f.check_audit(u);
}

TEST_CASE("a retry is answered from the key even after later requests used up the day") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-early");
  REQUIRE(f.consume(u, 0, ctx).allowed);
  REQUIRE(f.consume_n(u, 4) == 4);
  const auto again = f.consume(u, 0, ctx);
  CHECK(again.replayed);
  CHECK(again.allowed);
  CHECK(f.quota(u).messages_today == 5);
  f.check_audit(u);
}

TEST_CASE("a denied try_consume retried with the same request_id replays the denial") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  const auto ctx = with_request_id("req-6");
  const auto first = f.consume(u, 0, ctx);
  CHECK_FALSE(first.allowed);
  const auto again = f.consume(u, 0, ctx);
  CHECK(again.replayed);
  CHECK_FALSE(again.allowed);
  CHECK(again.denied_by == limit_kind::daily);
  CHECK(f.quota(u).messages_today == 5);
  f.check_audit(u);
}

TEST_CASE("a denied request retried after the limit was lifted still gets its original answer") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 5) == 5);
  const auto ctx = with_request_id("req-6");
  REQUIRE_FALSE(f.consume(u, 0, ctx).allowed);
  must(f.svc.upgrade_subscription(u, tier_id{"pro"}));
  const auto again = f.consume(u, 0, ctx);
  CHECK(again.replayed);
  CHECK_FALSE(again.allowed);
  CHECK(f.quota(u).messages_today == 5);
  f.check_audit(u);
}

TEST_CASE("increment_usage retried with the same request_id counts once") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("rec-1");
  const auto first = must(f.svc.increment_usage(u, 2, 30, ctx));
  CHECK(first.messages_today == 2);
  CHECK(first.tokens_today == 30);
  const auto again = must(f.svc.increment_usage(u, 2, 30, ctx));
  CHECK(again.messages_today == 2);
  CHECK(again.tokens_today == 30);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 2);
  CHECK(q.tokens_this_month == 30);
  CHECK(f.count_events(u, "usage_recorded") == 1);
  f.check_audit(u);
}

TEST_CASE("reserve retried with the same request_id returns the same reservation and counts once") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("res-1");
  const auto first = must(f.svc.reserve(u, 100, ctx));
  REQUIRE(first.allowed);
  REQUIRE(first.reservation.has_value());
  CHECK_FALSE(first.replayed);
  const auto again = must(f.svc.reserve(u, 100, ctx));
  CHECK(again.replayed);
  CHECK(again.allowed);
  CHECK(again.reservation == first.reservation);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 100);

  must(f.svc.commit(*first.reservation, 80));
  CHECK(f.quota(u).tokens_today == 80);
  f.check_audit(u);
}

TEST_CASE("the same request_id with other tokens is idempotency_mismatch and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-1");
  REQUIRE(f.consume(u, 10, ctx).allowed);
  const auto q = f.quota(u);
  const auto events = f.events(u).size();
  check_error(f.svc.try_consume(u, 20, ctx), errc::idempotency_mismatch);
  CHECK(f.quota(u) == q);
  CHECK(f.events(u).size() == events);
  f.check_audit(u);
}

TEST_CASE("increment_usage with a used request_id and other counts is idempotency_mismatch and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("rec-1");
  must(f.svc.increment_usage(u, 1, 5, ctx));
  const auto q = f.quota(u);
  check_error(f.svc.increment_usage(u, 2, 5, ctx), errc::idempotency_mismatch);
  check_error(f.svc.increment_usage(u, 1, 6, ctx), errc::idempotency_mismatch);
  CHECK(f.quota(u) == q);
  f.check_audit(u);
}

TEST_CASE("reserve with a used request_id and another estimate is idempotency_mismatch and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("res-1");
  REQUIRE(must(f.svc.reserve(u, 100, ctx)).allowed);
  const auto q = f.quota(u);
  check_error(f.svc.reserve(u, 200, ctx), errc::idempotency_mismatch);
  CHECK(f.quota(u) == q);
  f.check_audit(u);
}

TEST_CASE("a request_id used by try_consume cannot be reused by another operation of the same user") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-1");
  REQUIRE(f.consume(u, 10, ctx).allowed);
  const auto q = f.quota(u);
  check_error(f.svc.reserve(u, 10, ctx), errc::idempotency_mismatch);
  check_error(f.svc.increment_usage(u, 1, 10, ctx), errc::idempotency_mismatch);
  CHECK(f.quota(u) == q);
  f.check_audit(u);
}

TEST_CASE("different users may use the same request_id independently") {
  service_fixture f;
  const auto a = f.add_user("alice");
  const auto b = f.add_user("bob");
  const auto ctx = with_request_id("shared-key");
  const auto da = f.consume(a, 10, ctx);
  const auto db = f.consume(b, 20, ctx);
  CHECK(da.allowed);
  CHECK(db.allowed);
  CHECK_FALSE(da.replayed);
  CHECK_FALSE(db.replayed);
  CHECK(f.quota(a).tokens_today == 10);
  CHECK(f.quota(b).tokens_today == 20);
  CHECK(f.quota(b).messages_today == 1);
  f.check_audit(a);
  f.check_audit(b);
}

TEST_CASE("requests without a request_id are never deduplicated") {
  service_fixture f;
  const auto u = f.add_user("alice");
  REQUIRE(f.consume(u, 10).allowed);
  const auto second = f.consume(u, 10);
  CHECK(second.allowed);
  CHECK_FALSE(second.replayed);
  CHECK(f.quota(u).messages_today == 2);
  f.check_audit(u);
}

TEST_CASE("a request_id retried on the next day still replays and counts nothing new") {
  service_fixture f({}, "2025-11-07T23:59:59Z");
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-midnight");
  REQUIRE(f.consume(u, 5, ctx).allowed);
  f.set_time("2025-11-08T00:00:02Z");
  const auto again = f.consume(u, 5, ctx);
  CHECK(again.replayed);
  CHECK(again.allowed);
  CHECK(f.quota(u).messages_today == 0);
  CHECK(f.quota(u).messages_this_month == 1);
  f.check_audit(u, {date("2025-11-07")});
}

TEST_CASE("a reserve retried after its reservation was released returns the same reservation and counts nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("res-released");
  const auto first = must(f.svc.reserve(u, 100, ctx));
  REQUIRE(first.reservation.has_value());
  must(f.svc.release(*first.reservation));
  const auto again = must(f.svc.reserve(u, 100, ctx));
  CHECK(again.replayed);
  CHECK(again.reservation == first.reservation);
  const auto q = f.quota(u);
  CHECK(q.messages_today == 0);
  CHECK(q.tokens_today == 0);
  CHECK(must(f.svc.get_reservation(*first.reservation)).state == reservation_state::released);
  f.check_audit(u);
}

TEST_CASE("a replayed decision reports the current quota, not a second count") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-1");
  REQUIRE(f.consume(u, 0, ctx).allowed);
  REQUIRE(f.consume(u).allowed);
  const auto again = f.consume(u, 0, ctx);
  CHECK(again.replayed);
  CHECK(again.quota.messages_today == 2);
  f.check_audit(u);
}

TEST_CASE("request_ids older than request_id_ttl are forgotten; younger ones still replay") {
  service_options o;
  o.request_id_ttl = 1h;
  service_fixture f(o);
  const auto u = f.add_user("alice");
  const auto old_ctx = with_request_id("req-old");
  REQUIRE(f.consume(u, 10, old_ctx).allowed);
  must(f.svc.increment_usage(u, 0, 5, with_request_id("rec-old")));
  f.advance(30min);
  const auto young_ctx = with_request_id("req-young");
  REQUIRE(f.consume(u, 10, young_ctx).allowed);
  f.advance(30min);
  // Exactly as old as the TTL: still remembered.
  CHECK(must(f.svc.prune_request_ids()) == 0);
  CHECK(f.consume(u, 10, old_ctx).replayed);
  f.advance(1s);
  CHECK(must(f.svc.prune_request_ids()) == 2);
  CHECK(must(f.svc.prune_request_ids()) == 0);
  CHECK(f.consume(u, 10, young_ctx).replayed);
  // Forgotten: the same id is a new request now, and counts.
  const auto fresh = f.consume(u, 10, old_ctx);
  CHECK_FALSE(fresh.replayed);
  CHECK(fresh.allowed);
  CHECK(f.quota(u).messages_today == 3);
  CHECK(f.quota(u).tokens_today == 35);
  f.check_audit(u);
}

TEST_CASE("without a request_id TTL, prune_request_ids forgets nothing") {
  service_options o;
  o.request_id_ttl = std::nullopt;
  service_fixture f(o);
  const auto u = f.add_user("alice");
  const auto ctx = with_request_id("req-kept");
  REQUIRE(f.consume(u, 10, ctx).allowed);
  f.advance(std::chrono::hours{24 * 500});
  CHECK(must(f.svc.prune_request_ids()) == 0);
  f.advance(-std::chrono::hours{24 * 500});
  CHECK(f.consume(u, 10, ctx).replayed);
}
