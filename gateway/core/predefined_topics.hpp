// Predefined topic ids (§6.7): ids both sides know from configuration, so a sensor can
// publish without REGISTER (and with QoS -1 without a connection). A PredefinedTopicSet is one
// immutable snapshot with both directions; PredefinedTopics is the live one every session and the
// QoS -1 path resolve through, replaced whole on SIGHUP, so no session keeps a stale direction.
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "gateway/core/string_hash.hpp"

namespace gw {

class PredefinedTopicSet {
 public:
  PredefinedTopicSet() = default;
  explicit PredefinedTopicSet(const std::map<std::uint16_t, std::string>& by_id);
  explicit PredefinedTopicSet(std::unordered_map<std::uint16_t, std::string> by_id);

  const std::string* name_of(std::uint16_t id) const;
  // Two ids for one name: the lowest wins, so the choice does not depend on hash order.
  std::optional<std::uint16_t> id_of(std::string_view name) const;
  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  void index();
  std::unordered_map<std::uint16_t, std::string> by_id_;
  StringMap<std::uint16_t> by_name_;
};

class PredefinedTopics {
 public:
  PredefinedTopics() : current_(std::make_shared<const PredefinedTopicSet>()) {}
  PredefinedTopics(std::initializer_list<std::pair<const std::uint16_t, std::string>> topics)
      : current_(std::make_shared<const PredefinedTopicSet>(
            std::unordered_map<std::uint16_t, std::string>(topics))) {}

  // Replaces the whole set (SIGHUP); lookups from now on see only the new one.
  void replace(PredefinedTopicSet set) {
    current_ = std::make_shared<const PredefinedTopicSet>(std::move(set));
  }
  std::shared_ptr<const PredefinedTopicSet> current() const noexcept { return current_; }
  // The pointer is valid until the next replace().
  const std::string* name_of(std::uint16_t id) const { return current_->name_of(id); }
  std::optional<std::uint16_t> id_of(std::string_view name) const { return current_->id_of(name); }

 private:
  std::shared_ptr<const PredefinedTopicSet> current_;
};

}  // namespace gw
