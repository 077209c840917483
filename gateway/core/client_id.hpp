// ClientIds are sensor data: checked at CONNECT and escaped wherever they become part of an MQTT
// topic, so no sensor can make the gateway's own client publish to a wildcard or $-topic (a
// broker drops a client that does, and with it every sensor it carries). Pure: std only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gw {

// Why a ClientId is refused at CONNECT, or nullptr when it is acceptable: valid UTF-8 (no
// overlong forms, no surrogates), no NUL or other control character (C0, DEL, C1), at most
// `max_length` octets.
const char* client_id_problem(std::string_view client_id, std::size_t max_length) noexcept;

// `s` as one MQTT topic level: '%' followed by two upper-case hex digits for '/', '+', '#', '%',
// a leading '$', and every octet below 0x20 or equal to 0x7F; everything else as is. Injective
// (distinct ClientIds give distinct levels) and the identity for plain ids like "sensor-01".
std::string escape_topic_level(std::string_view s);

}  // namespace gw
