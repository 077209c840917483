// Human-readable forms of messages and errors, for logs and test failures.
// Example: PUBLISH{dup=0 qos=1 retain=0 tid_type=normal topic_id=1 msg_id=7 data="21 C"(2)}
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

#include "mqttsn/codec.hpp"
#include "mqttsn/messages.hpp"

namespace mqttsn {

std::string_view to_string(MsgType t) noexcept;
std::string_view to_string(ReturnCode rc) noexcept;
std::string_view to_string(TopicIdType t) noexcept;
std::string_view to_string(QoS q) noexcept;
std::string_view to_string(DecodeError e) noexcept;
std::string to_string(const Flags& f);
std::string to_string(const Message& m);
std::string to_string(const DecodeFailure& f);

// A ClientId, topic name or filter made safe for one log line: non-printable octets escaped
// (\n, \t, \r, \\, \xNN), cut after `max` octets with "...(N octets)" giving the full length.
std::string printable(std::string_view s, std::size_t max = 64);

std::ostream& operator<<(std::ostream& os, MsgType t);
std::ostream& operator<<(std::ostream& os, ReturnCode rc);
std::ostream& operator<<(std::ostream& os, const Message& m);
std::ostream& operator<<(std::ostream& os, const DecodeFailure& f);
std::ostream& operator<<(std::ostream& os, const DecodeResult& r);

}  // namespace mqttsn
