// Convenience header: the whole public API of kauri_quota.
#pragma once

#include <kauri_quota/clock.hpp>
#include <kauri_quota/http_answer.hpp>
#include <kauri_quota/json.hpp>
#include <kauri_quota/metrics.hpp>
#include <kauri_quota/open.hpp>
#include <kauri_quota/quota_service.hpp>
#include <kauri_quota/result.hpp>
#include <kauri_quota/storage.hpp>
#include <kauri_quota/storage_requests.hpp>
#include <kauri_quota/types.hpp>
#include <kauri_quota/version.hpp>
