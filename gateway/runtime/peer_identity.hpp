// The DTLS identity binding ([dtls] identity_must_match_client_id): a DTLS peer's PSK identity or
// certificate CN must equal the ClientId it uses, and a ClientId whose session lives on DTLS
// cannot be taken over from plain UDP. Pure: the runtime asks and acts.
#pragma once

#include <string>
#include <string_view>

#include "transports/peer_address.hpp"

namespace gw {

// Why `from` (with the transport's `identity`, "" for plain transports) may not use `client_id`;
// "" when it may. `bound` is the address the ClientId's live session has now, nullptr if none.
std::string identity_refusal(const transport::PeerAddress& from, std::string_view identity,
                             std::string_view client_id, bool must_match,
                             const transport::PeerAddress* bound);

}  // namespace gw
