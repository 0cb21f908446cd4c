// The text form of a composite value, as the server-side functions return
// their outcome: every quoting rule of record_out, and malformed input
// refused rather than misread.
#include "postgres/pq.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using kauri_quota::detail::pq::rows;

namespace {
std::vector<std::optional<std::string>> fields(const rows& r) {
  std::vector<std::optional<std::string>> out;
  for (int c = 0; c < r.columns(); ++c) out.push_back(r.opt_text(0, c));
  return out;
}
}  // namespace

TEST_CASE("a composite value's text form is split into its fields") {
  using f = std::vector<std::optional<std::string>>;
  auto r = rows::from_record(R"((t,none,,"",12,"a b","x""y","back\\slash","(p),q","2026-11-28 07:49:40.5"))");
  REQUIRE(r);
  CHECK(r->size() == 1);
  CHECK(fields(*r) ==
        f{"t", "none", std::nullopt, "", "12", "a b", "x\"y", "back\\slash", "(p),q", "2026-11-28 07:49:40.5"});
  CHECK(r->boolean(0, 0));
  CHECK(r->null(0, 2));
  CHECK(r->text(0, 2).empty());
  CHECK(r->i64(0, 4) == 12);
  CHECK(r->opt_i64(0, 2) == std::nullopt);

  CHECK(fields(*rows::from_record("()")) == f{std::nullopt});
  CHECK(fields(*rows::from_record("(,)")) == f{std::nullopt, std::nullopt});
  CHECK(fields(*rows::from_record("(,a,)")) == f{std::nullopt, "a", std::nullopt});
  CHECK(fields(*rows::from_record(R"(("""",",","\\"))")) == f{"\"", ",", "\\"});
  // UTF-8 passes through untouched.
  CHECK(fields(*rows::from_record("(\"caf\xC3\xA9 \xE2\x82\xAC\",\xF0\x9F\x98\x80)")) ==
        f{"caf\xC3\xA9 \xE2\x82\xAC", "\xF0\x9F\x98\x80"});
}

TEST_CASE("malformed composite text is refused") {
  for (const char* bad : {"", "(", ")", "x", "a,b", "(a", "a)", R"(("open))", R"(("a"b))", R"((a"b))", R"((a\b))",
                          R"((a(b))", R"(("a\))", "(a)(b)"}) {
    INFO(bad);
    CHECK_FALSE(rows::from_record(bad).has_value());
  }
}
