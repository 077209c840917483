#include "gateway/runtime/peer_identity.hpp"

namespace gw {

std::string identity_refusal(const transport::PeerAddress& from, std::string_view identity,
                             std::string_view client_id, bool must_match,
                             const transport::PeerAddress* bound) {
  if (!must_match) return {};
  if (from.kind == transport::Kind::Dtls) {
    if (identity == client_id) return {};
    return "ClientId is not the DTLS identity \"" + std::string(identity) + "\"";
  }
  if (bound != nullptr && bound->kind == transport::Kind::Dtls)
    return "ClientId belongs to a DTLS sensor";
  return {};
}

}  // namespace gw
