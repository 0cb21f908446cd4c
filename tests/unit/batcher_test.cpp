// The group-commit queue (core/batcher.hpp) on its own: who leads, what a
// batch holds, how many run at once, and when a leader waits for company.
#include "core/batcher.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace kauri_quota;
using kauri_quota::detail::batcher;

namespace {

struct item {
  int id = 0;
  int ran_in = -1;  ///< the number of the batch that ran it
};

/// Records each batch's items; the first batch can be held until released.
struct recorder {
  std::mutex m;
  std::vector<std::vector<int>> batches;
  std::atomic<bool> hold_first{false};
  std::atomic<bool> first_started{false};
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};

  void run(const std::vector<item*>& items) {
    const int now = ++running;
    for (int seen = most_running.load(); now > seen && !most_running.compare_exchange_weak(seen, now);) {
    }
    int number = 0;
    {
      std::lock_guard lock(m);
      number = static_cast<int>(batches.size());
      batches.emplace_back();
      for (item* i : items) batches.back().push_back(i->id);
    }
    if (number == 0) {
      first_started = true;
      while (hold_first.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (item* i : items) i->ran_in = number;
    --running;
  }
};

batch_options options(int max_size, std::chrono::microseconds max_wait = {}) {
  batch_options o;
  o.max_size = max_size;
  o.max_wait = max_wait;
  return o;
}

}  // namespace

TEST_CASE("a lone caller leads a batch of its own, at once") {
  batcher<item> b(options(64), 1);
  recorder r;
  for (int i = 0; i < 5; ++i) {
    item it{i};
    b.submit(it, [&](const std::vector<item*>& items) { r.run(items); });
    CHECK(it.ran_in == i);
  }
  CHECK(r.batches.size() == 5);
  CHECK(b.stats().batches == 5);
  CHECK(b.stats().requests == 5);
  CHECK(b.stats().largest == 1);
}

TEST_CASE("callers that arrive while a batch runs go together in the next, up to max_size, in arrival order") {
  batcher<item> b(options(3), 1);
  recorder r;
  r.hold_first = true;
  std::vector<item> items(7);
  for (int i = 0; i < 7; ++i) items[static_cast<std::size_t>(i)].id = i;
  auto submit = [&](int i) {
    b.submit(items[static_cast<std::size_t>(i)], [&](const std::vector<item*>& x) { r.run(x); });
  };
  std::vector<std::thread> threads;
  threads.emplace_back(submit, 0);
  while (!r.first_started.load()) std::this_thread::yield();
  for (int i = 1; i < 7; ++i) {
    threads.emplace_back(submit, i);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // arrival order 1..6
  }
  r.hold_first = false;
  for (auto& t : threads) t.join();
  REQUIRE(r.batches.size() == 3);
  CHECK(r.batches[0] == std::vector<int>{0});
  CHECK(r.batches[1] == std::vector<int>{1, 2, 3});
  CHECK(r.batches[2] == std::vector<int>{4, 5, 6});
  for (const item& i : items) CHECK(i.ran_in >= 0);
  CHECK(b.stats().largest == 3);
  CHECK(r.most_running.load() == 1);
}

TEST_CASE("with several batch slots, batches run side by side, never more than the slots") {
  batcher<item> b(options(64), 2);
  recorder r;
  std::vector<std::thread> threads;
  std::vector<item> items(40);
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i].id = static_cast<int>(i);
    threads.emplace_back([&, i] {
      b.submit(items[i], [&](const std::vector<item*>& x) {
        r.run(x);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      });
    });
  }
  for (auto& t : threads) t.join();
  for (const item& i : items) CHECK(i.ran_in >= 0);
  CHECK(b.stats().requests == 40);
  CHECK(r.most_running.load() <= 2);
}

TEST_CASE("a leader waits for company only after a batch that had some, and never longer than max_wait") {
  using namespace std::chrono;
  batcher<item> b(options(8, milliseconds{300}), 1);
  recorder r;
  r.hold_first = true;
  std::vector<item> items(3);
  auto submit = [&](std::size_t i) { b.submit(items[i], [&](const std::vector<item*>& x) { r.run(x); }); };
  std::thread first(submit, 0);
  while (!r.first_started.load()) std::this_thread::yield();
  std::thread second(submit, 1);
  std::thread third(submit, 2);
  std::this_thread::sleep_for(milliseconds(50));
  r.hold_first = false;
  first.join();
  second.join();
  third.join();
  REQUIRE(b.stats().largest == 2);  // the two that queued went together

  // The batch before had company: the next leader waits up to max_wait.
  item lone{10};
  auto start = steady_clock::now();
  b.submit(lone, [&](const std::vector<item*>& x) { r.run(x); });
  const auto waited = steady_clock::now() - start;
  CHECK(waited >= milliseconds(250));
  CHECK(waited < milliseconds(3000));
  // That batch was alone: the next does not wait.
  item next{11};
  start = steady_clock::now();
  b.submit(next, [&](const std::vector<item*>& x) { r.run(x); });
  CHECK(steady_clock::now() - start < milliseconds(250));
}

TEST_CASE("a waiting leader starts as soon as as many callers have queued as the batch before it held") {
  using namespace std::chrono;
  // max_wait far beyond what the test allows: only the count ends the wait.
  batcher<item> b(options(8, seconds{20}), 1);
  recorder r;
  r.hold_first = true;
  std::vector<item> items(5);
  for (std::size_t i = 0; i < items.size(); ++i) items[i].id = static_cast<int>(i);
  auto submit = [&](std::size_t i) { b.submit(items[i], [&](const std::vector<item*>& x) { r.run(x); }); };
  std::thread first(submit, 0);
  while (!r.first_started.load()) std::this_thread::yield();
  std::thread second(submit, 1);
  std::thread third(submit, 2);
  std::this_thread::sleep_for(milliseconds(50));
  r.hold_first = false;
  first.join();
  second.join();
  third.join();
  REQUIRE(b.stats().largest == 2);

  // Two callers again, the second 50 ms after the first: the first leads,
  // waits for one more (the batch before held two), and both go together,
  // long before max_wait (8 callers would be never).
  const auto start = steady_clock::now();
  std::thread a(submit, 3);
  std::this_thread::sleep_for(milliseconds(50));
  std::thread c(submit, 4);
  a.join();
  c.join();
  CHECK(steady_clock::now() - start < seconds(10));
  REQUIRE(r.batches.size() == 3);
  CHECK(r.batches[2] == std::vector<int>{3, 4});
}

TEST_CASE("a caller whose deadline passes while every batch slot is busy gives up without being run") {
  using namespace std::chrono;
  batcher<item> b(options(8), 1);
  recorder r;
  r.hold_first = true;
  item first{0};
  item late{1};
  auto run = [&](const std::vector<item*>& x) { r.run(x); };
  std::thread holder([&] { b.submit(first, run); });
  while (!r.first_started.load()) std::this_thread::yield();
  const auto start = steady_clock::now();
  CHECK_FALSE(b.submit(late, run, start + milliseconds(100)));
  CHECK(steady_clock::now() - start >= milliseconds(100));
  CHECK(late.ran_in == -1);
  r.hold_first = false;
  holder.join();
  CHECK(first.ran_in == 0);
  CHECK(r.batches.size() == 1);
  CHECK(b.stats().requests == 1);
}
