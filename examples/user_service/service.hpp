// The user service's HTTP endpoints: registration and login, the spec's
// five subscription endpoints, the subscription and its payments (CinetPay
// checkout and notifications), usage history, health, metrics and the pages. A token only
// ever reaches its own user's data: no endpoint takes a user id.
#pragma once

#include "cinetpay.hpp"
#include "credentials.hpp"

#include "host_common/assets.hpp"
#include "host_common/http_host.hpp"
#include "host_common/jwt.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <chrono>
#include <memory>

namespace kauri_user_service {

struct service_context {
  kauri_quota::quota_service* quota = nullptr;
  credential_store* credentials = nullptr;
  const kauri_host::jwt_hs256* tokens = nullptr;
  std::chrono::seconds token_ttl{3600};
  const kauri_host::asset_bundle* assets = nullptr;
  /// Payments through CinetPay; null: payments are off and an upgrade
  /// applies at once.
  const cinetpay_client* cinetpay = nullptr;
};

/// Registers every route on `host`. `ctx` must outlive it.
void register_routes(kauri_host::http_host& host, const service_context& ctx);

}  // namespace kauri_user_service
