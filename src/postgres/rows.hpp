// Row decoding of the PostgreSQL backend (internal): the C++ mirror of the
// kauri_quota_outcome type that the server functions return, and readers
// of the library's rows. Parameters travel as text (see pq::params).
#pragma once

#include "postgres/pq.hpp"

#include <kauri_quota/storage.hpp>
#include <kauri_quota/types.hpp>

#include <optional>
#include <string>
#include <variant>

namespace kauri_quota::detail::postgres {

using pq::failure;
using pq::params;
using pq::rows;

// Columns of the kauri_quota_outcome type, in order.
enum outcome_col : int {
  oc_allowed,
  oc_denied_by,
  oc_replayed,
  oc_reservation_id,
  oc_email,
  oc_sub_tier,
  oc_sub_status,
  oc_start_date,
  oc_end_date,
  oc_trial_end_date,
  oc_created_at,
  oc_tier_id,
  oc_tier_name,
  oc_tier_name_fr,
  oc_per_day,
  oc_per_month,
  oc_tokens_per_month,
  oc_price_fcfa,
  oc_display_order,
  oc_is_visible,
  oc_messages_today,
  oc_tokens_today,
  oc_messages_this_month,
  oc_tokens_this_month,
  oc_day_found,
  oc_res_user,
  oc_res_day,
  oc_res_messages,
  oc_res_estimated,
  oc_res_actual,
  oc_res_state,
  oc_res_created,
  oc_res_expires,
  oc_count
};

/// The row of a function set version 4 operation (consume, record, settle,
/// load): the kauri_quota_outcome value `o`, then the columns the outcome
/// type does not carry: the user's day the operation used, its zone and
/// the scheduled change.
struct outcome_row {
  rows o;  ///< the outcome's fields as the columns of one row (outcome_col)
  local_date day{};
  std::optional<std::string> time_zone;
  std::optional<tier_id> scheduled_tier;
  std::optional<sys_time> scheduled_end_date;
  bool cancel_at_period_end = false;
};

/// Runs a statement that returns one row (o kauri_quota_outcome, x_day,
/// x_zone, x_scheduled_tier, x_scheduled_end, x_cancel). The outcome travels
/// as one composite column, which costs the server less than expanding it
/// into columns. schema_mismatch when the server's functions return another
/// shape.
std::variant<outcome_row, failure> exec_outcome(pq::connection& c, const char* name, const char* sql, const params& p);
/// The outcome row of one such statement's answer.
std::variant<outcome_row, failure> read_outcome(std::variant<rows, failure>&& r);

std::optional<sys_time> opt_time(const rows& r, int row, int col);
std::string text_of(std::int64_t v);
std::optional<std::string> text_of(const limit& v);
std::optional<std::string> time_of(const std::optional<sys_time>& t);

/// The columns of sql_all_tiers / sql_get_tier / sql_update_tier.
tier read_tier(const rows& r, int row);
/// Seven subscription columns from `first` (email, tier, status, start,
/// end, trial end, created).
subscription read_subscription_cols(const rows& r, int row, const user_id& user, int first);
/// The four lifecycle columns from `first` (time_zone, scheduled_tier,
/// scheduled_end_date, cancel_at_period_end) into `s`.
void read_lifecycle_cols(const rows& r, int row, int first, subscription& s);
/// The subscription, applied tier and counters of an outcome, on the day
/// the operation used.
usage_snapshot read_snapshot(const outcome_row& r, const user_id& user);
/// The columns of sql_get_payment.
payment read_payment(const rows& r, int row);
/// The columns of sql_get_reservation.
reservation read_reservation(const rows& r, int row);

}  // namespace kauri_quota::detail::postgres
