// The connection pool: reuse, the bound on open connections, and the
// deadline of a wait for a connection to come back.
#include "core/connection_pool.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <thread>

namespace kauri_quota::detail {

namespace {

struct fake_connection {
  int serial = 0;
};

using pool_type = connection_pool<fake_connection>;

/// A `make` that counts the connections it opened.
struct maker {
  int* made;
  result<std::unique_ptr<fake_connection>> operator()() const {
    return std::make_unique<fake_connection>(fake_connection{++*made});
  }
};

}  // namespace

TEST_CASE("connection_pool reuses a returned connection") {
  pool_type pool(2);
  int made = 0;
  { auto first = pool.acquire(maker{&made}).value(); }
  auto again = pool.acquire(maker{&made}, std::chrono::milliseconds{10}).value();
  CHECK(made == 1);
  CHECK(again->serial == 1);
}

TEST_CASE("connection_pool answers storage_busy when no connection comes back before the deadline") {
  pool_type pool(1);
  int made = 0;
  auto held = pool.acquire(maker{&made}).value();
  const auto start = std::chrono::steady_clock::now();
  auto waited = pool.acquire(maker{&made}, std::chrono::milliseconds{50});
  REQUIRE_FALSE(waited.has_value());
  CHECK(waited.error().is(errc::storage_busy));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds{50});
  CHECK(made == 1);  // it did not open a second connection past max_size
}

TEST_CASE("connection_pool gives a waiter the connection returned before its deadline") {
  pool_type pool(1);
  int made = 0;
  auto held = std::make_unique<pool_type::lease>(pool.acquire(maker{&made}).value());
  std::thread giver([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    held.reset();
  });
  auto waited = pool.acquire(maker{&made}, std::chrono::steady_clock::now() + std::chrono::seconds{10});
  giver.join();
  REQUIRE(waited.has_value());
  CHECK(waited.value()->serial == 1);
}

TEST_CASE("connection_pool opens a new connection when a returned one may not be reused") {
  pool_type pool(1, [](const fake_connection&) { return false; });
  int made = 0;
  { auto first = pool.acquire(maker{&made}).value(); }
  auto second = pool.acquire(maker{&made}, std::chrono::milliseconds{10}).value();
  CHECK(made == 2);
  CHECK(second->serial == 2);
}

}  // namespace kauri_quota::detail
