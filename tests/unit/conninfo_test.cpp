// find_secrets: where the passwords of a connection string are written,
// the one scan behind redact_url and the libpq error scrubbing.
#include "core/conninfo.hpp"

#include <kauri_quota/storage.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace kauri_quota::detail {

namespace {

/// The text of each span find_secrets reports.
std::vector<std::string> secrets(std::string_view conninfo) {
  std::vector<std::string> out;
  for (const secret_span& s : find_secrets(conninfo)) out.emplace_back(conninfo.substr(s.offset, s.length));
  return out;
}

using texts = std::vector<std::string>;

}  // namespace

TEST_CASE("find_secrets reads the password of a URI userinfo") {
  CHECK(find_secrets("postgresql://alice:pw@db.example.com:5432/kauri") == std::vector<secret_span>{{19, 2}});
  CHECK(secrets("postgres://u:s3cret@h/db") == texts{"s3cret"});
  CHECK(secrets("postgresql://u:@h/db") == texts{""});  // an empty password is still one
  CHECK(secrets("postgresql://alice@h/db").empty());
  CHECK(secrets("postgresql://h:5432/db").empty());
}

TEST_CASE("find_secrets ends a userinfo as libpq does: '?', '#' and ':' may be in a password") {
  CHECK(secrets("postgresql://u:pa?ss@h/db") == texts{"pa?ss"});
  CHECK(secrets("postgresql://u:s3cr#t@h/db") == texts{"s3cr#t"});
  CHECK(secrets("postgresql://u#1:s3cret@h/db") == texts{"s3cret"});
  CHECK(secrets("postgresql://u:a:b@h/db") == texts{"a:b"});
}

TEST_CASE("find_secrets takes a password with an unencoded '/' or '@' whole") {
  CHECK(secrets("postgresql://user:S3cret/x@127.0.0.1:1/db") == texts{"S3cret/x"});
  // libpq would stop at the first '@'; the host cannot hold one, so the
  // rest up to the last '@' before the query is hidden too.
  CHECK(secrets("postgresql://u:p@ss@h/db?sslmode=require") == texts{"p@ss"});
}

TEST_CASE("find_secrets does not take an '@' in the query for the end of a userinfo") {
  CHECK(secrets("postgresql://h/db?user=u@x&sslmode=require").empty());
  CHECK(secrets("postgresql://h/db?user=u&password=q:/r@u&password=s3cret") == texts{"q:/r@u", "s3cret"});
}

TEST_CASE("find_secrets reads every password query parameter, however its name is written") {
  CHECK(secrets("postgresql://h/db?pass%77ord=s3cret") == texts{"s3cret"});
  CHECK(secrets("postgresql://h/db?sslmode=require&PASSWORD=s3cret") == texts{"s3cret"});
  CHECK(secrets("postgresql://h/db?%20password%20=open sesame&sslmode=require") == texts{"open sesame"});
  CHECK(secrets("postgresql://u:a@h/db?password=b") == texts{"a", "b"});
  CHECK(secrets("postgresql://h/db?passwords=x&xpassword=y").empty());
}

TEST_CASE("find_secrets reads keyword passwords whatever whitespace surrounds '='") {
  CHECK(secrets("host=db password=s3cret dbname=d") == texts{"s3cret"});
  CHECK(secrets("host=db password\t=s3cret") == texts{"s3cret"});
  CHECK(secrets("host=db\tpassword \t= \ts3cret\tdbname=d") == texts{"s3cret"});
  CHECK(secrets("password=a password=b") == texts{"a", "b"});
  CHECK(secrets("host=db xpassword=s3cret").empty());
  CHECK(secrets("host=db password").empty());
}

TEST_CASE("find_secrets runs a keyword value to the next keyword") {
  CHECK(secrets("host=db password=p&ssw0rd dbname=d") == texts{"p&ssw0rd"});
  CHECK(secrets("host=db password=open\\ sesame dbname=d") == texts{"open\\ sesame"});
  CHECK(secrets("host=db password=Pre S3cret dbname=d") == texts{"Pre S3cret"});
  CHECK(secrets("host=db password='Pre S3cret' dbname=d") == texts{"'Pre S3cret'"});
  CHECK(secrets("host=db password='Pre S3cret dbname=d") == texts{"'Pre S3cret dbname=d"});
  CHECK(secrets("host=db password='it\\'s' dbname=d") == texts{"'it\\'s'"});
}

TEST_CASE("find_secrets reads a keyword string as one even when a value holds a URI") {
  CHECK(secrets("dbname=postgresql://x password=s3cret") == texts{"s3cret"});
  CHECK(secrets("host=postgresql://h/db?padb password=ssword='ikauri") == texts{"ssword='ikauri"});
}

TEST_CASE("redact_url replaces exactly the spans of find_secrets") {
  CHECK(redact_url("postgresql://alice:pw@db/kauri?password=x&sslmode=require") ==
        "postgresql://alice:***@db/kauri?password=***&sslmode=require");
  CHECK(redact_url("host=db password=a password=b") == "host=db password=*** password=***");
  CHECK(redact_url("postgresql://u:@h/db") == "postgresql://u:***@h/db");
  CHECK(redact_url("sqlite:/tmp/kq.db") == "sqlite:/tmp/kq.db");
}

}  // namespace kauri_quota::detail
