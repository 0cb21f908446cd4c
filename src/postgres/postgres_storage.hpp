// Factory of the PostgreSQL backend (internal; the public entry is open_postgres).
#pragma once

#include <kauri_quota/storage.hpp>

namespace kauri_quota::detail {

result<std::unique_ptr<storage>> open_postgres_storage(const postgres_options& opts);

}  // namespace kauri_quota::detail
