#include <kauri_quota/clock.hpp>

#include <chrono>
#include <memory>

namespace kauri_quota {
namespace {

class system_clock_impl final : public clock {
 public:
  sys_time now() const override {
    // Floor, not truncate: both agree after 1970, but floor keeps instants
    // ordered for clocks set before the epoch.
    return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  }
};

}  // namespace

std::shared_ptr<const clock> system_clock() {
  static const std::shared_ptr<const clock> instance = std::make_shared<const system_clock_impl>();
  return instance;
}

}  // namespace kauri_quota
