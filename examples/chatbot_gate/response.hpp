// An HTTP answer as the gate builds it, independent of the server library,
// so that the chat flow can be stored for replays and tested without HTTP.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kauri_gate {

struct response {
  int status = 200;
  std::string body;  ///< JSON text
  std::vector<std::pair<std::string, std::string>> headers;

  /// A JSON error {"detail": ...} in the shape every Kauri service uses.
  static response error(int status, std::string_view detail);
};

}  // namespace kauri_gate
