// The English and French sentences of a denial (internal), written in
// denial_messages.cpp, where the wording can be edited on its own.
#pragma once

#include <kauri_quota/types.hpp>

#include <cstdint>
#include <string>

namespace kauri_quota::detail {

/// The limit a denial hit and the usage counted against it.
struct denial_facts {
  limit max;
  std::int64_t used = 0;
};

/// The facts of `d.denied_by` read from `d.quota`; empty for limit_kind::none.
denial_facts facts_of(const decision& d);

/// The sentence shown to the user, in English and in French: which limit,
/// the usage, when the quota resets and, when there is one, the suggested
/// tier by its display name.
std::string denial_message_en(const decision& d);
std::string denial_message_fr(const decision& d);

}  // namespace kauri_quota::detail
