#include "gateway/core/buffer_budget.hpp"

namespace gw {

const char* to_string(DropReason r) noexcept {
  switch (r) {
    case DropReason::ClientMessages:
      return "client_messages";
    case DropReason::ClientBytes:
      return "client_bytes";
    case DropReason::TotalMessages:
      return "total_messages";
    case DropReason::TotalBytes:
      return "total_bytes";
  }
  return "?";
}

}  // namespace gw
