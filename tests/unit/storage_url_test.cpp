// Storage URLs: parsing, and redaction of every password libpq would read.
// The redaction cases are inputs the URL fuzzer found.
#include "core/storage_url.hpp"

#include <kauri_quota/storage.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace kauri_quota {

TEST_CASE("parse_storage_url tells the backends apart and refuses the rest") {
  auto lite = detail::parse_storage_url("sqlite:/tmp/q.db");
  REQUIRE(lite.has_value());
  CHECK(lite.value().backend == detail::storage_url::kind::sqlite);
  CHECK(lite.value().target == "/tmp/q.db");
  CHECK(detail::parse_storage_url("sqlite:///tmp/q.db").value().target == "/tmp/q.db");
  CHECK(detail::parse_storage_url("sqlite::memory:").value().target == ":memory:");
  CHECK(detail::parse_storage_url("postgresql://h/db").value().backend == detail::storage_url::kind::postgresql);
  CHECK(detail::parse_storage_url("host=h dbname=d").value().backend == detail::storage_url::kind::postgresql);
  const std::string_view bad_urls[] = {"",          "sqlite:",        "sqlite://",
                                       "mysql://x", "just-a-path.db", std::string_view("sqlite:\0x", 9)};
  for (const std::string_view bad : bad_urls) {
    CAPTURE(bad);
    auto r = detail::parse_storage_url(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().is(errc::invalid_argument));
  }
}

TEST_CASE("redact_url hides a URI password even when the userinfo contains '?' or '#'") {
  for (const std::string_view url :
       {"postgresql://u:pa?ss@h/db", "postgresql://u:s3cr#t@h/db", "postgresql://u#1:s3cret@h/db",
        "postgres://u?x:s3cret@h:5432/db", "postgresql://user:S3cret/x@127.0.0.1:1/db"}) {
    CAPTURE(url);
    const std::string redacted = redact_url(url);
    CAPTURE(redacted);
    for (const std::string_view secret : {"pa?ss", "s3cr#t", "s3cret", "S3cret"})
      CHECK(redacted.find(secret) == std::string::npos);
  }
  CHECK(redact_url("postgresql://alice:pw@db.example.com:5432/kauri") ==
        "postgresql://alice:***@db.example.com:5432/kauri");
}

TEST_CASE("redact_url hides a keyword password whatever whitespace surrounds '='") {
  for (const std::string_view url :
       {"host=db password\t=s3cret", "host=db password\n=s3cret", "host=db\tpassword \t= \ts3cret\tdbname=d"}) {
    CAPTURE(url);
    CHECK(redact_url(url).find("s3cret") == std::string::npos);
  }
}

TEST_CASE("redact_url hides the whole password value, as libpq delimits it") {
  // Keyword values end at unescaped whitespace ('&' is ordinary there); URI query values end at '&'.
  CHECK(redact_url("host=db password=p&ssw0rd dbname=d").find("ssw0rd") == std::string::npos);
  CHECK(redact_url("host=db password=open\\ sesame dbname=d").find("sesame") == std::string::npos);
  CHECK(redact_url("host=db password=Pre S3cret dbname=d").find("S3cret") == std::string::npos);
  CHECK(redact_url("host=db password='Pre S3cret dbname=d").find("S3cret") == std::string::npos);
  CHECK(redact_url("postgresql://h/db?password=open sesame&sslmode=require").find("sesame") == std::string::npos);
  CHECK(redact_url("host=db password=s3cret dbname=d") == "host=db password=*** dbname=d");
}

TEST_CASE("redact_url reads a keyword string as one even when a value holds a URI") {
  CHECK(redact_url("host=postgresql://h/db?padb password=ssword='ikauri") ==
        "host=postgresql://h/db?padb password=***");
  CHECK(redact_url("dbname=postgresql://x password=s3cret") == "dbname=postgresql://x password=***");
}

TEST_CASE("redact_url does not take an '@' in the query for the end of a userinfo") {
  const std::string url = "postgresql://h/db?user=u&password=q:/r@u&password=s3cret&sslmode=x&password=s3cresalls";
  const std::string redacted = redact_url(url);
  CAPTURE(redacted);
  CHECK(redacted.find("s3cre") == std::string::npos);
  CHECK(redacted.find("q:/r") == std::string::npos);
  CHECK(redacted == "postgresql://h/db?user=u&password=***&password=***&sslmode=x&password=***");
}

TEST_CASE("redact_url hides a password given with a percent-encoded keyword") {
  CHECK(redact_url("postgresql://h/db?pass%77ord=s3cret").find("s3cret") == std::string::npos);
  CHECK(redact_url("postgresql://h/db?sslmode=require&PASSWORD=s3cret").find("s3cret") == std::string::npos);
}

TEST_CASE("an unsupported storage URL is rejected without showing its password") {
  auto parsed = detail::parse_storage_url("mysql://root:hun?ter2@localhost/kauri");
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().is(errc::invalid_argument));
  CHECK(parsed.error().message.find("hun?ter2") == std::string::npos);
}

}  // namespace kauri_quota
