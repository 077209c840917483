// BLE identity addresses: "C0:FF:EE:00:00:01" <-> 6 octets <-> BlueZ object paths.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "transports/peer_address.hpp"

namespace transport::ble {

using Octets = std::array<std::uint8_t, 6>;

// Accepts either case; nullopt unless exactly six two-digit hex groups separated by ':'.
std::optional<Octets> parse_address(std::string_view text) noexcept;
// Upper case, as BlueZ prints it.
std::string format_address(const Octets& a);
// "c0:ff:ee:00:00:01" -> "C0:FF:EE:00:00:01"; nullopt if not an address.
std::optional<std::string> normalize_address(std::string_view text);

PeerAddress to_peer(const Octets& a) noexcept;
std::optional<Octets> from_peer(const PeerAddress& p) noexcept;

// BlueZ names device objects <adapter>/dev_C0_FF_EE_00_00_01.
std::string device_path(std::string_view adapter_path, const Octets& a);

}  // namespace transport::ble
