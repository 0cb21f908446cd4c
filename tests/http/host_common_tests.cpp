// Unit tests of kauri_host_common: tokens, secrets, options, languages,
// metrics and embedded assets. They need no server and no database.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "host_common/assets.hpp"
#include "host_common/base64url.hpp"
#include "host_common/http_host.hpp"
#include "host_common/jwt.hpp"
#include "host_common/language.hpp"
#include "host_common/options.hpp"
#include "host_common/request_metrics.hpp"
#include "host_common/secret.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

extern const kauri_host::asset_bundle test_assets;
extern const kauri_host::asset_bundle test_empty_assets;

using namespace kauri_host;
using json = nlohmann::json;

namespace {

const std::string key32 = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t t0 = 1'762'513'164;  // 2025-11-07T10:59:24Z

// A token with any header and payload, signed with `key` (a correct MAC:
// only the verifier's rules can refuse it).
std::string forge(const std::string& header, const std::string& payload, const std::string& key = key32) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(hmac_sha256(key, input));
}

std::string hs256_header() { return R"({"alg":"HS256","typ":"JWT"})"; }

std::string claims(std::int64_t exp, std::map<std::string, json> extra = {}) {
  json j = {{"sub", "user-1"}, {"exp", exp}};
  for (auto& [k, v] : extra) j[k] = v;
  return j.dump();
}

struct temp_file {
  std::filesystem::path path;
  explicit temp_file(const std::string& content) {
    path = std::filesystem::temp_directory_path() /
           ("kq_host_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::ofstream(path, std::ios::binary) << content;
  }
  ~temp_file() { std::filesystem::remove(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
  const int status = ::pclose(p);
  REQUIRE_MESSAGE(status == 0, "command failed: " << cmd << "\n" << out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("base64url round-trips every byte value and length") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n < 40; ++n) {
    const std::string s = all.substr(n, n);
    CHECK(base64url_decode(base64url_encode(s)) == s);
  }
  CHECK(base64url_encode("a") == "YQ");
  CHECK(base64url_encode(all.substr(250)) == "-vv8_f7_");
}

TEST_CASE("base64url refuses padding, the other alphabet, whitespace and non-canonical text") {
  CHECK(base64url_decode("YQ") == std::string("a"));
  CHECK_FALSE(base64url_decode("YQ=="));
  CHECK_FALSE(base64url_decode("YQ="));
  CHECK_FALSE(base64url_decode("+vv8"));
  CHECK_FALSE(base64url_decode("/vv8"));
  CHECK_FALSE(base64url_decode("YQ "));
  CHECK_FALSE(base64url_decode("Y\nQ"));
  CHECK_FALSE(base64url_decode("YQABC"));  // length 1 modulo 4
  CHECK_FALSE(base64url_decode("YR"));     // unused bits set: a second spelling of "a"
  CHECK_FALSE(base64url_decode("YWJ"));    // "ab" is YWI
  CHECK(base64url_decode("") == std::string());
}

TEST_CASE("HMAC-SHA256 gives the signature of RFC 7515 appendix A.1") {
  const std::string key =
      *base64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  const std::string input =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
  CHECK(base64url_encode(hmac_sha256(key, input)) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

  // The token verifies (its signature is over the text as received, CR LF
  // included); it carries no sub, which is what the verifier then refuses.
  const jwt_hs256 v(key);
  const std::string token = input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  CHECK(v.verify(token, 1300819300).error == jwt_error::missing_claim);
  CHECK(v.verify(input + ".eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", 1300819300).error == jwt_error::bad_signature);
  // "...jXl" spells the same bytes with an unused bit set: not canonical.
  CHECK(v.verify(input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", 1300819300).error == jwt_error::malformed);
}

TEST_CASE("a minted token verifies and carries its subject and times") {
  const jwt_hs256 v(key32);
  const std::string token = v.mint("7336840a-b662-428b-b912-ffcf4dd0635d", t0, std::chrono::hours(1));
  const jwt_verification r = v.verify(token, t0 + 10);
  REQUIRE(r);
  CHECK(r.claims.sub == "7336840a-b662-428b-b912-ffcf4dd0635d");
  CHECK(r.claims.exp == doctest::Approx(static_cast<double>(t0 + 3600)));
  REQUIRE(r.claims.iat);
  CHECK(*r.claims.iat == doctest::Approx(static_cast<double>(t0)));
  CHECK(jwt_hs256(key32 + "x").verify(token, t0).error == jwt_error::bad_signature);
}

TEST_CASE("a tampered payload or signature is refused") {
  const jwt_hs256 v(key32);
  const std::string token = v.mint("alice", t0, std::chrono::hours(1));
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  const std::string other_payload = base64url_encode(claims(t0 + 3600, {{"sub", "mallory"}}));
  const std::string swapped = token.substr(0, dot1 + 1) + other_payload + token.substr(dot2);
  CHECK(v.verify(swapped, t0).error == jwt_error::bad_signature);

  std::string bad_sig = token;
  bad_sig[dot2 + 1] = bad_sig[dot2 + 1] == 'A' ? 'B' : 'A';
  CHECK(v.verify(bad_sig, t0).error == jwt_error::bad_signature);
  CHECK(v.verify(token.substr(0, dot2 + 1), t0).error == jwt_error::malformed);     // no signature
  CHECK(v.verify(token.substr(0, dot2), t0).error == jwt_error::malformed);         // two segments
  CHECK(v.verify(token + ".e30", t0).error == jwt_error::malformed);                // four segments
  CHECK(v.verify(token.substr(0, token.size() - 1), t0).error != jwt_error::none);  // truncated
  CHECK(v.verify(bad_sig.substr(0, dot2 + 1) + token.substr(dot2 + 1, 42), t0).error != jwt_error::none);
}

TEST_CASE("only HS256 is accepted, whatever the MAC") {
  const jwt_hs256 v(key32);
  const std::string payload = claims(t0 + 600);
  CHECK(v.verify(forge(hs256_header(), payload), t0));
  CHECK(v.verify(forge(R"({"alg":"none","typ":"JWT"})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"alg":"HS512"})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"alg":"hs256"})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"alg":"RS256"})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"typ":"JWT"})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"alg":["HS256"]})", payload), t0).error == jwt_error::wrong_algorithm);
  CHECK(v.verify(forge(R"({"alg":"HS256","crit":["exp"]})", payload), t0).error == jwt_error::wrong_algorithm);
  // An unsecured token ("alg":"none" with an empty signature) is malformed.
  const std::string unsecured = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(payload) + ".";
  CHECK(v.verify(unsecured, t0).error == jwt_error::malformed);
}

TEST_CASE("oversized, padded and non-JSON segments are malformed") {
  const jwt_hs256 v(key32);
  const std::string good = forge(hs256_header(), claims(t0 + 600));
  CHECK(v.verify(good + "==", t0).error == jwt_error::malformed);
  CHECK(v.verify(" " + good, t0).error == jwt_error::malformed);
  const std::string big = forge(hs256_header(), claims(t0 + 600, {{"pad", std::string(4000, 'x')}}));
  CHECK(big.size() > jwt_hs256::max_token_length);
  CHECK(v.verify(big, t0).error == jwt_error::malformed);
  CHECK(v.verify(forge("not json", claims(t0 + 600)), t0).error == jwt_error::malformed);
  CHECK(v.verify(forge("[1]", claims(t0 + 600)), t0).error == jwt_error::malformed);
  CHECK(v.verify(forge(hs256_header(), "[]"), t0).error == jwt_error::malformed);
  CHECK(v.verify(forge(hs256_header(), "{\"sub\":\"\xff\",\"exp\":1}"), t0).error == jwt_error::malformed);
  CHECK(v.verify("", t0).error == jwt_error::malformed);
  CHECK(v.verify("..", t0).error == jwt_error::malformed);
}

TEST_CASE("claims: sub and exp are required, numbers only") {
  const jwt_hs256 v(key32);
  CHECK(v.verify(forge(hs256_header(), R"({"exp":9999999999})"), t0).error == jwt_error::missing_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"","exp":9999999999})"), t0).error == jwt_error::missing_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":42,"exp":9999999999})"), t0).error == jwt_error::missing_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"u"})"), t0).error == jwt_error::missing_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"u","exp":"9999999999"})"), t0).error == jwt_error::bad_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"u","exp":9999999999,"nbf":true})"), t0).error ==
        jwt_error::bad_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"u","exp":9999999999,"iat":null})"), t0).error ==
        jwt_error::bad_claim);
  CHECK(v.verify(forge(hs256_header(), R"({"sub":"u","exp":9999999999.5})"), t0));
}

TEST_CASE("exp, nbf and iat are checked at the edges of the leeway") {
  const jwt_hs256 v(key32, std::chrono::seconds{30});
  const auto at = [&](std::map<std::string, json> c) {
    json j = {{"sub", "u"}};
    for (auto& [k, val] : c) j[k] = val;
    return v.verify(forge(hs256_header(), j.dump()), t0).error;
  };
  CHECK(at({{"exp", t0 - 30}}) == jwt_error::expired);  // now >= exp + leeway
  CHECK(at({{"exp", t0 - 29}}) == jwt_error::none);
  CHECK(at({{"exp", t0 + 3600}, {"nbf", t0 + 30}}) == jwt_error::none);
  CHECK(at({{"exp", t0 + 3600}, {"nbf", t0 + 31}}) == jwt_error::not_yet_valid);
  CHECK(at({{"exp", t0 + 3600}, {"iat", t0 + 30}}) == jwt_error::none);
  CHECK(at({{"exp", t0 + 3600}, {"iat", t0 + 31}}) == jwt_error::issued_in_future);
  CHECK(at({{"exp", t0 - 1000}, {"nbf", t0 + 1000}}) == jwt_error::expired);
}

TEST_CASE("tokens interoperate with PyJWT (Debian python3-jwt)") {
  const jwt_hs256 v(key32);
  // PyJWT mints; we verify.
  const std::string theirs = run_command(
      "/usr/bin/python3 -c \"import jwt,sys; print(jwt.encode({'sub': 'py-user', 'iat': " + std::to_string(t0) +
      ", 'exp': " + std::to_string(t0 + 600) + "}, sys.argv[1], algorithm='HS256'))\" " + key32);
  const jwt_verification r = v.verify(theirs, t0 + 5);
  REQUIRE_MESSAGE(r, to_string(r.error));
  CHECK(r.claims.sub == "py-user");
  // We mint; PyJWT verifies (with its clock: the token is valid now).
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string ours = v.mint("cpp-user", now, std::chrono::minutes(5));
  CHECK(run_command("/usr/bin/python3 -c \"import jwt,sys; print(jwt.decode(sys.argv[2], sys.argv[1], "
                    "algorithms=['HS256'], leeway=5)['sub'])\" " +
                    key32 + " " + ours) == "cpp-user");
}

TEST_CASE("the secret file must hold at least 32 bytes") {
  {
    const temp_file f(std::string(31, 's'));
    const auto r = load_secret_file(f.path.string());
    REQUIRE_FALSE(is_secret(r));
    CHECK(std::get<1>(r).find("at least 32") != std::string::npos);
  }
  {
    const temp_file f(std::string(31, 's') + "\n");
    CHECK_FALSE(is_secret(load_secret_file(f.path.string())));
  }
  {
    const temp_file f(std::string(32, 's') + "\r\n");
    const auto r = load_secret_file(f.path.string());
    REQUIRE(is_secret(r));
    CHECK(std::get<0>(r) == std::string(32, 's'));
  }
  {
    const temp_file f(std::string(5000, 's'));
    CHECK_FALSE(is_secret(load_secret_file(f.path.string())));
  }
  CHECK_FALSE(is_secret(load_secret_file("/nonexistent/kauri/secret")));
  CHECK_FALSE(is_secret(load_secret_file("")));
}

TEST_CASE("options: flag over environment over default") {
  const std::vector<option_spec> specs = {
      {"listen", "T_LISTEN", true, "127.0.0.1:8080", "address"},
      {"db", "T_DB", true, "", "database"},
      {"migrate", "T_MIGRATE", false, "", "migrate"},
  };
  std::map<std::string, std::string> env;
  const env_lookup lookup = [&env](const std::string& n) -> std::optional<std::string> {
    const auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  parsed_options p = parse_options(specs, {}, lookup);
  CHECK(p.error.empty());
  CHECK(p.get("listen") == "127.0.0.1:8080");
  CHECK_FALSE(p.has("db"));
  CHECK_FALSE(p.has("migrate"));

  env = {{"T_LISTEN", "0.0.0.0:1"}, {"T_DB", "sqlite:x.db"}, {"T_MIGRATE", "yes"}};
  p = parse_options(specs, {}, lookup);
  CHECK(p.get("listen") == "0.0.0.0:1");
  CHECK(p.get("db") == "sqlite:x.db");
  CHECK(p.has("migrate"));

  p = parse_options(specs, {"--listen", "127.0.0.1:0", "--db=sqlite:y.db"}, lookup);
  CHECK(p.get("listen") == "127.0.0.1:0");
  CHECK(p.get("db") == "sqlite:y.db");

  env = {{"T_MIGRATE", "0"}};
  CHECK_FALSE(parse_options(specs, {}, lookup).has("migrate"));
  env = {{"T_MIGRATE", "maybe"}};
  CHECK_FALSE(parse_options(specs, {}, lookup).error.empty());
  env.clear();
  CHECK_FALSE(parse_options(specs, {"--nope"}, lookup).error.empty());
  CHECK_FALSE(parse_options(specs, {"--db"}, lookup).error.empty());
  CHECK_FALSE(parse_options(specs, {"--migrate=1"}, lookup).error.empty());
  CHECK_FALSE(parse_options(specs, {"--db", "a", "--db", "b"}, lookup).error.empty());
  CHECK_FALSE(parse_options(specs, {"stray"}, lookup).error.empty());
  CHECK(parse_options(specs, {"--help"}, lookup).help);
  CHECK(usage_text("prog", specs).find("[$T_LISTEN]") != std::string::npos);
}

TEST_CASE("durations, integers and listen addresses") {
  CHECK(parse_duration("3600") == std::chrono::seconds(3600));
  CHECK(parse_duration("90s") == std::chrono::seconds(90));
  CHECK(parse_duration("5m") == std::chrono::seconds(300));
  CHECK(parse_duration("1h") == std::chrono::seconds(3600));
  CHECK(parse_duration("2d") == std::chrono::seconds(172800));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("0"));
  CHECK_FALSE(parse_duration("-1h"));
  CHECK_FALSE(parse_duration("1w"));
  CHECK_FALSE(parse_duration("h"));
  CHECK_FALSE(parse_duration("99999999999d"));
  CHECK(parse_grace_period("0") == std::chrono::seconds(0));
  CHECK(parse_grace_period("3d") == std::chrono::seconds(3 * 86400));
  CHECK(parse_grace_period("90d") == std::chrono::seconds(90 * 86400));
  CHECK_FALSE(parse_grace_period("91d"));
  CHECK_FALSE(parse_grace_period(""));
  CHECK_FALSE(parse_grace_period("-1s"));
  CHECK(parse_integer("8", 1, 256) == 8);
  CHECK_FALSE(parse_integer("0", 1, 256));
  CHECK_FALSE(parse_integer("+8", 1, 256));
  CHECK_FALSE(parse_integer("8x", 1, 256));
  auto hp = parse_host_port("127.0.0.1:0");
  REQUIRE(hp);
  CHECK(hp->host == "127.0.0.1");
  CHECK(hp->port == 0);
  hp = parse_host_port("[::1]:8080");
  REQUIRE(hp);
  CHECK(hp->host == "::1");
  CHECK(hp->port == 8080);
  CHECK_FALSE(parse_host_port("127.0.0.1"));
  CHECK_FALSE(parse_host_port(":80"));
  CHECK_FALSE(parse_host_port("h:65536"));
  CHECK_FALSE(parse_host_port("::1:80"));
}

TEST_CASE("Accept-Language picks en or fr by q-value") {
  CHECK(choose_language("") == "en");
  CHECK(choose_language("fr") == "fr");
  CHECK(choose_language("fr-SN,fr;q=0.9,en;q=0.8") == "fr");
  CHECK(choose_language("en-US,en;q=0.9,fr;q=0.8") == "en");
  CHECK(choose_language("en;q=0.5, fr;q=0.9") == "fr");
  CHECK(choose_language("de, fr;q=0.1") == "fr");
  CHECK(choose_language("fr;q=0, en;q=0.1") == "en");
  CHECK(choose_language("fr;q=0") == "en");
  CHECK(choose_language("de-DE") == "en");
  CHECK(choose_language("*") == "en");
  CHECK(choose_language("FR-ci") == "fr");
  CHECK(choose_language("fr;q=2, en;q=0.3") == "en");  // an invalid q drops the item
  CHECK(choose_language("fr;q=0.5, en;q=0.5") == "fr");
  CHECK(choose_language(",,;;q=") == "en");
}

TEST_CASE("request metrics render counters and a cumulative histogram") {
  request_metrics m;
  m.add_route("GET", "/api/v1/subscription/quota");
  std::string text = m.to_prometheus();
  CHECK(text.find("kauri_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/subscription/quota\"} 0") !=
        std::string::npos);
  m.record("GET", "/api/v1/subscription/quota", 200, 0.003);
  m.record("GET", "/api/v1/subscription/quota", 200, 0.2);
  m.record("GET", "/api/v1/subscription/quota", 401, 0.0001);
  m.record("BREW", "unmatched", 404, 0.0001);
  text = m.to_prometheus();
  CHECK(
      text.find("kauri_http_requests_total{method=\"GET\",route=\"/api/v1/subscription/quota\",status=\"200\"} 2\n") !=
      std::string::npos);
  CHECK(text.find("kauri_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("_bucket{method=\"GET\",route=\"/api/v1/subscription/quota\",le=\"0.005\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("_bucket{method=\"GET\",route=\"/api/v1/subscription/quota\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("# TYPE kauri_http_request_duration_seconds histogram\n") != std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("embedded assets: every file of the folder, types, and the {{lang}} substitution") {
  CHECK(test_assets.count == 3);
  REQUIRE(test_assets.find("page.html") != nullptr);
  REQUIRE(test_assets.find("sub/site.css") != nullptr);
  const embedded_file* png = test_assets.find("dot.png");
  REQUIRE(png != nullptr);
  CHECK(bytes_of(*png) == std::string_view("\x89PNG\r\n\x1a\n\x00\xff", 10));
  CHECK(test_assets.find("missing.js") == nullptr);
  CHECK(test_empty_assets.count == 0);
  CHECK(test_empty_assets.find("page.html") == nullptr);

  CHECK(content_type_for("a.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("a.css") == "text/css; charset=utf-8");
  CHECK(content_type_for("a.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("a.svg") == "image/svg+xml");
  CHECK(content_type_for("a.png") == "image/png");
  CHECK(content_type_for("html") == "application/octet-stream");

  httplib::Response res;
  REQUIRE(serve_asset(res, test_assets, "page.html", "fr"));
  CHECK(res.body == "<html lang=\"fr\"><body>fr fr</body></html>\n");
  CHECK(res.get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(res.get_header_value("Cache-Control") == "no-store");
  CHECK(res.get_header_value("Content-Security-Policy").find("default-src 'self'") != std::string::npos);
  httplib::Response css;
  REQUIRE(serve_asset(css, test_assets, "sub/site.css", "fr"));
  CHECK(css.body == "body{color:red}\n");
  httplib::Response none;
  CHECK_FALSE(serve_asset(none, test_empty_assets, "page.html", "en"));
}
