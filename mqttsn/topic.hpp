// MQTT topic helpers the gateway needs (MQTT 3.1.1 §4.7 rules; MQTT-SN §3 short topics).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mqttsn {

// A topic name for PUBLISH: non-empty, no '+' or '#', no NUL, at most 65535 octets.
bool valid_topic_name(std::string_view name) noexcept;
// A topic filter for SUBSCRIBE: non-empty, '+' occupies a whole level, '#' only as the last level.
bool valid_topic_filter(std::string_view filter) noexcept;
// Whether `name` matches `filter` (MQTT rules, including '$' topics not matched by leading
// wildcards).
bool topic_matches(std::string_view filter, std::string_view name) noexcept;
// A short topic name is exactly two characters (§3 "short topic name"), neither of them a wildcard.
bool is_short_topic(std::string_view name) noexcept;
// The two characters of a short topic as a TopicId (first char in the high octet), and back.
std::uint16_t short_topic_id(std::string_view name) noexcept;  // precondition: size() == 2
std::string short_topic_name(std::uint16_t topic_id);
// Whether a filter has '+' or '#'.
bool has_wildcard(std::string_view filter) noexcept;

}  // namespace mqttsn
