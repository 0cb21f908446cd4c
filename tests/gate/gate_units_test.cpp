// The gate's pieces that need no server: the idempotency record, the body
// fingerprint, the stub generator and the URL flags.
#include "generator.hpp"
#include "http_url.hpp"
#include "idempotency.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using kauri_gate::idempotency_record;
using verdict = idempotency_record::verdict;

namespace {

kauri_gate::response answer(int status, std::string body) {
  kauri_gate::response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("a finished key replays its answer and refuses another body") {
  idempotency_record rec(10, 3600s);
  CHECK(rec.begin("alice", "k", "fp1", 0ms).what == verdict::fresh);
  rec.finish("alice", "k", answer(200, "first"));
  auto again = rec.begin("alice", "k", "fp1", 0ms);
  CHECK(again.what == verdict::replay);
  CHECK(again.answer.body == "first");
  CHECK(rec.begin("alice", "k", "fp2", 0ms).what == verdict::mismatch);
  // Keys are per user.
  CHECK(rec.begin("bob", "k", "fp2", 0ms).what == verdict::fresh);
}

TEST_CASE("a key still in flight is busy after the wait, and a waiter gets the answer when it finishes") {
  idempotency_record rec(10, 3600s);
  REQUIRE(rec.begin("alice", "k", "fp", 0ms).what == verdict::fresh);
  CHECK(rec.begin("alice", "k", "fp", 20ms).what == verdict::busy);
  CHECK(rec.begin("alice", "k", "other", 20ms).what == verdict::mismatch);
  std::thread finisher([&] {
    std::this_thread::sleep_for(50ms);
    rec.finish("alice", "k", answer(429, "denied"));
  });
  auto waited = rec.begin("alice", "k", "fp", 5s);
  finisher.join();
  CHECK(waited.what == verdict::replay);
  CHECK(waited.answer.status == 429);
}

TEST_CASE("an abandoned key lets the next request process it") {
  idempotency_record rec(10, 3600s);
  REQUIRE(rec.begin("alice", "k", "fp", 0ms).what == verdict::fresh);
  std::thread abandoner([&] {
    std::this_thread::sleep_for(30ms);
    rec.abandon("alice", "k");
  });
  CHECK(rec.begin("alice", "k", "fp", 5s).what == verdict::fresh);
  abandoner.join();
}

TEST_CASE("concurrent first requests of one key: exactly one is fresh, the others replay it") {
  idempotency_record rec(100, 3600s);
  std::atomic<int> fresh{0}, replayed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto c = rec.begin("alice", "same", "fp", 5s);
      if (c.what == verdict::fresh) {
        ++fresh;
        std::this_thread::sleep_for(20ms);
        rec.finish("alice", "same", answer(200, "once"));
      } else if (c.what == verdict::replay && c.answer.body == "once") {
        ++replayed;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(fresh == 1);
  CHECK(replayed == 15);
}

TEST_CASE("the record keeps at most its capacity of finished answers, oldest dropped first") {
  idempotency_record rec(2, 3600s);
  for (const char* k : {"a", "b", "c"}) {
    REQUIRE(rec.begin("u", k, "fp", 0ms).what == verdict::fresh);
    rec.finish("u", k, answer(200, k));
  }
  CHECK(rec.size() == 2);
  CHECK(rec.begin("u", "a", "fp", 0ms).what == verdict::fresh);  // forgotten
  CHECK(rec.begin("u", "c", "fp", 0ms).what == verdict::replay);
}

TEST_CASE("the body fingerprint separates its fields unambiguously") {
  using kauri_gate::body_fingerprint;
  CHECK(body_fingerprint("hello", "") == body_fingerprint("hello", ""));
  CHECK(body_fingerprint("hello", "") != body_fingerprint("hello", "512"));
  CHECK(body_fingerprint("1|", "2") != body_fingerprint("1", "|2"));
  CHECK(body_fingerprint("hello", "").size() == 64);
}

TEST_CASE("the stub caps its tokens, fails at its rate and cuts the echo on a character boundary") {
  kauri_gate::stub_options o;
  o.tokens = 50;
  auto stub = kauri_gate::make_stub_generator(o);
  auto g = stub->generate("abcdefgh", 10);
  REQUIRE(g.value);
  CHECK(g.value->completion_tokens == 10);
  CHECK(g.value->prompt_tokens == 2);
  CHECK(g.value->total_tokens() == 12);
  std::string long_text(199, 'x');
  long_text += "\xC3\xA9\xC3\xA9";  // "éé" straddles byte 200
  auto cut = stub->generate(long_text, 10);
  REQUIRE(cut.value);
  CHECK(cut.value->reply == "You said: " + std::string(199, 'x'));

  o.failure_rate = 1;
  auto failing = kauri_gate::make_stub_generator(o);
  auto f = failing->generate("hi", 10);
  CHECK_FALSE(f.value);
  CHECK_FALSE(f.failure.empty());
}

TEST_CASE("http(s) URL flags are split into an origin and a base path, anything else refused") {
  using kauri_gate::parse_http_url;
  auto a = parse_http_url("http://127.0.0.1:8080/");
  REQUIRE(a);
  CHECK(a->origin == "http://127.0.0.1:8080");
  CHECK(a->base.empty());
  auto b = parse_http_url("https://llm.internal/openai/");
  REQUIRE(b);
  CHECK(b->origin == "https://llm.internal");
  CHECK(b->base == "/openai");
  CHECK(parse_http_url("http://[::1]:9000")->origin == "http://[::1]:9000");
  for (const char* bad : {"", "ftp://x", "http://", "http://user@host/", "http://h/?q=1", "http://h/#f", "h:80"})
    CHECK_MESSAGE(!parse_http_url(bad), bad);
}
