// MQTT topic rules (MQTT 3.1.1 §4.7) and MQTT-SN short topic names (§3).
#include "mqttsn/topic.hpp"

namespace mqttsn {
namespace {

constexpr std::size_t kMaxTopicLength = 65535;

bool basic_ok(std::string_view s) noexcept {
  return !s.empty() && s.size() <= kMaxTopicLength && s.find('\0') == std::string_view::npos;
}

// Whether `s` holds '+' or '#'. One pass over the octets: find_first_of with a set tests every
// octet against the set through char_traits, several times the cost, and this runs for every
// PUBLISH a sensor sends.
bool any_wildcard(std::string_view s) noexcept {
  for (const char c : s) {
    if (c == '+' || c == '#') return true;
  }
  return false;
}

// Splits off the next '/'-separated level; `rest` loses it and its separator.
// `more` tells whether a separator followed (so "a/" has a second, empty level).
std::string_view next_level(std::string_view& rest, bool& more) noexcept {
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    const auto level = rest;
    rest = {};
    more = false;
    return level;
  }
  const auto level = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  more = true;
  return level;
}

}  // namespace

bool valid_topic_name(std::string_view name) noexcept {
  return basic_ok(name) && !any_wildcard(name);
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (!basic_ok(filter)) return false;
  std::string_view rest = filter;
  bool more = true;
  while (more) {
    const auto level = next_level(rest, more);
    if (!any_wildcard(level)) continue;
    if (level.size() != 1) return false;     // wildcards occupy a whole level
    if (level == "#" && more) return false;  // '#' only as the last level
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  if (!valid_topic_filter(filter) || !valid_topic_name(name)) return false;
  // Leading wildcards do not match topics beginning with '$' (MQTT 3.1.1 §4.7.2).
  if (name.front() == '$' && (filter.front() == '+' || filter.front() == '#')) return false;
  std::string_view f = filter;
  std::string_view n = name;
  bool f_more = true;
  bool n_more = true;
  while (f_more) {
    const auto fl = next_level(f, f_more);
    if (fl == "#") return true;  // also matches the parent level: "a/#" matches "a"
    if (!n_more) {
      // The name has ended; only a trailing "/#" can still match.
      return false;
    }
    const auto nl = next_level(n, n_more);
    if (fl != "+" && fl != nl) return false;
    if (!f_more) return !n_more;
    if (!n_more) {
      // Name exhausted: the remaining filter must be exactly "#".
      return f == "#";
    }
  }
  return false;
}

bool is_short_topic(std::string_view name) noexcept {
  return name.size() == 2 && name.find_first_of("+#") == std::string_view::npos;
}

std::uint16_t short_topic_id(std::string_view name) noexcept {
  if (name.size() != 2) return 0;
  return static_cast<std::uint16_t>((static_cast<unsigned char>(name[0]) << 8) |
                                    static_cast<unsigned char>(name[1]));
}

std::string short_topic_name(std::uint16_t topic_id) {
  return std::string{static_cast<char>(topic_id >> 8), static_cast<char>(topic_id & 0xFF)};
}

bool has_wildcard(std::string_view filter) noexcept {
  return any_wildcard(filter);
}

}  // namespace mqttsn
