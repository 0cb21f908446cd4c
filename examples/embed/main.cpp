// Embedding kauri_quota: open an SQLite database, bring its schema up to
// date, and admit chat messages with try_consume until the free tier's
// daily limit (5 messages) denies one. Exits 0 once the denial was shown.
#include <kauri_quota/kauri_quota.hpp>

#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>

namespace kq = kauri_quota;

namespace {

int fail(const kq::error& e) {
  std::cerr << "error: " << e.message << '\n';
  return 1;
}

int run(const std::string& url) {
  auto opened = kq::open_storage(url);
  if (!opened) return fail(opened.error());
  std::shared_ptr<kq::storage> store = std::move(opened).value();
  if (auto migrated = store->migrate({}); !migrated) return fail(migrated.error());

  auto service = kq::quota_service::create(store);  // periods in UTC, new users on "free"
  if (!service) return fail(service.error());
  kq::quota_service& quotas = service.value();

  const kq::user_id alice{"alice"};
  if (auto created = quotas.create_user(alice); !created) return fail(created.error());

  for (int message = 1; message <= 10; ++message) {
    auto d = quotas.try_consume(alice, /*tokens=*/250);
    if (!d) return fail(d.error());  // the question could not be answered
    if (!d.value().allowed) {        // a denial is a value: answer HTTP 429 with this body
      std::cout << "message " << message << " denied: " << kq::denial_payload_json(d.value()) << '\n';
      return 0;
    }
    std::cout << "message " << message << " allowed, " << d.value().quota.messages_today << " sent today\n";
  }
  std::cerr << "error: expected the free tier to deny a message\n";
  return 1;
}

}  // namespace

int main() try {
  const auto path =
      std::filesystem::temp_directory_path() / ("kauri_quota_embed_" + std::to_string(std::random_device{}()) + ".db");
  const int code = run("sqlite:" + path.string());
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::error_code ignored;
    std::filesystem::remove(path.string() + suffix, ignored);
  }
  return code;
} catch (const std::exception& e) {  // kauri_quota never throws; the standard library may
  std::cerr << "error: " << e.what() << '\n';
  return 1;
}
