// The texts of a denial, in English and in French. The wording below may be
// edited freely; the placeholders {} must stay, in the order their comment
// gives. Code that picks and fills a text follows the texts.
#include "core/denial_messages.hpp"

#include "core/time_format.hpp"

#include <fmt/format.h>

#include <string_view>

namespace kauri_quota::detail {
namespace {

struct denial_texts {
  std::string_view daily;                // {} = "used/limit"
  std::string_view monthly;              // {} = "used/limit"
  std::string_view tokens_reached;       // {} = "used/limit"
  std::string_view tokens_would_exceed;  // {} = "used/limit", the limit not reached yet
  std::string_view no_limit;             // no limit was reached
  std::string_view resets;               // {} = the reset instant, "2025-11-08T00:00:00Z"
  std::string_view upgrade;              // {} = tier name, {} = what it gives more of
  std::string_view more_messages;
  std::string_view more_tokens;
};

constexpr denial_texts english{
    .daily = "Daily message limit reached ({}).",
    .monthly = "Monthly message limit reached ({}).",
    .tokens_reached = "Monthly token limit reached ({} tokens).",
    .tokens_would_exceed = "This request would exceed your monthly token limit ({} tokens used).",
    .no_limit = "No limit was reached.",
    .resets = " Your quota resets at {}.",
    .upgrade = " Upgrade to {} for more {}.",
    .more_messages = "messages",
    .more_tokens = "tokens",
};

constexpr denial_texts french{
    .daily = "Limite quotidienne de messages atteinte ({}).",
    .monthly = "Limite mensuelle de messages atteinte ({}).",
    .tokens_reached = "Limite mensuelle de jetons atteinte ({} jetons).",
    .tokens_would_exceed = "Cette requête dépasserait votre limite mensuelle de jetons ({} jetons utilisés).",
    .no_limit = "Aucune limite n'a été atteinte.",
    .resets = " Votre quota sera réinitialisé le {}.",
    .upgrade = " Passez à l'offre {} pour plus de {}.",
    .more_messages = "messages",
    .more_tokens = "jetons",
};

// ---------------------------------------------------------------------------

/// "2025-11-08T00:00:00Z": an instant for people to read (no fraction).
std::string format_time_seconds(sys_time t) {
  std::string text = format_rfc3339(t);
  text.erase(text.size() - 8, 7);  // ".ffffff"
  return text;
}

/// The suggested tier's display name ("Pro"), or, for a decision built
/// without the names, its id with a capital ("pro" -> "Pro").
std::string display_name(const tier_id& id, const std::string& name_given) {
  if (!name_given.empty()) return name_given;
  std::string name = id.str();
  if (!name.empty() && name[0] >= 'a' && name[0] <= 'z') {
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
  }
  return name;
}

std::string usage_ratio(const denial_facts& f) {
  return f.max ? fmt::format("{}/{}", f.used, *f.max) : fmt::format("{}", f.used);
}

std::string denial_message(const decision& d, const denial_texts& texts, const std::string& suggested_name) {
  const denial_facts f = facts_of(d);
  std::string_view text;
  switch (d.denied_by) {
    case limit_kind::daily:
      text = texts.daily;
      break;
    case limit_kind::monthly:
      text = texts.monthly;
      break;
    case limit_kind::tokens:
      text = f.max && f.used < *f.max ? texts.tokens_would_exceed : texts.tokens_reached;
      break;
    case limit_kind::none:
      return std::string(texts.no_limit);
  }
  std::string out = fmt::format(fmt::runtime(text), usage_ratio(f));
  out += fmt::format(fmt::runtime(texts.resets), format_time_seconds(d.resets_at));
  if (d.suggested_tier) {
    out += fmt::format(fmt::runtime(texts.upgrade), display_name(*d.suggested_tier, suggested_name),
                       d.denied_by == limit_kind::tokens ? texts.more_tokens : texts.more_messages);
  }
  return out;
}

}  // namespace

denial_facts facts_of(const decision& d) {
  const quota_info& q = d.quota;
  switch (d.denied_by) {
    case limit_kind::daily:
      return {q.messages_per_day_limit, q.messages_today};
    case limit_kind::monthly:
      return {q.messages_per_month_limit, q.messages_this_month};
    case limit_kind::tokens:
      return {q.tokens_per_month_limit, q.tokens_this_month};
    case limit_kind::none:
      break;
  }
  return {};
}

std::string denial_message_en(const decision& d) { return denial_message(d, english, d.suggested_tier_name); }

std::string denial_message_fr(const decision& d) { return denial_message(d, french, d.suggested_tier_name_fr); }

}  // namespace kauri_quota::detail
