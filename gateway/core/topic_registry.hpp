// One client's topic ids (§6.5, §6.7, §7.3): normal ids allocated per client, predefined ids from
// configuration, short topic names. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/core/session_snapshot.hpp"
#include "gateway/core/session_types.hpp"
#include "gateway/core/string_hash.hpp"
#include "mqttsn/messages.hpp"

namespace gw {

// How the gateway names a topic towards the client in a PUBLISH.
struct ClientTopic {
  mqttsn::TopicIdType type = mqttsn::TopicIdType::Normal;
  std::uint16_t id = 0;
  // Normal id the client has not been told about yet: REGISTER before PUBLISH.
  bool needs_register = false;
  friend bool operator==(const ClientTopic&, const ClientTopic&) = default;
};

class TopicRegistry {
 public:
  explicit TopicRegistry(std::shared_ptr<const PredefinedTopics> predefined);

  // The normal id for `name`, allocating one if needed (the same name keeps its id).
  // nullopt only when all 65534 usable ids are taken.
  std::optional<std::uint16_t> assign(std::string_view name);
  std::optional<std::uint16_t> id_of(std::string_view name) const;
  const std::string* name_of(std::uint16_t id) const;

  // Whether the client knows the normal id (it REGISTERed it, acked our REGISTER, or got it in a
  // SUBACK). Ids survive a CleanSession=false reconnect, the client's knowledge does not.
  bool known_by_client(std::uint16_t id) const;
  void set_known_by_client(std::uint16_t id, bool known);
  void forget_client_knowledge();

  // The client rejected our REGISTER for this name: do not send it to this client.
  void reject(std::string_view name);
  bool rejected(std::string_view name) const;
  void clear_rejections();

  // Drops every normal id (CleanSession=true).
  void clear();
  std::size_t size() const noexcept { return by_id_.size(); }

  // Persistence: the normal ids ordered by id, the next id to try, and their restoration (which
  // replaces every normal id; rejections are not kept).
  std::vector<TopicRegistration> registrations() const;
  std::uint16_t next_id() const noexcept { return next_id_; }
  void restore(const std::vector<TopicRegistration>& regs, std::uint16_t next_id);

  const std::string* predefined_name(std::uint16_t id) const;
  std::optional<std::uint16_t> predefined_id(std::string_view name) const;

  // The topic name a client's PUBLISH / SUBSCRIBE topic field denotes; nullopt if unknown.
  std::optional<std::string> resolve(mqttsn::TopicIdType type, std::uint16_t id) const;
  // How to name `name` in a PUBLISH to the client: predefined, short, or normal (allocating an id
  // if needed; nullopt only when ids are exhausted).
  std::optional<ClientTopic> for_client(std::string_view name);

 private:
  struct Entry {
    std::string name;
    bool known = false;
  };
  // The live set, asked at every lookup: a reload replaces its snapshot whole.
  std::shared_ptr<const PredefinedTopics> predefined_;
  std::unordered_map<std::uint16_t, Entry> by_id_;
  StringMap<std::uint16_t> by_name_;
  StringSet rejected_;
  std::uint16_t next_id_ = 1;
};

}  // namespace gw
