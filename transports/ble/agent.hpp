// Our org.bluez.Agent1: answers pairing requests for allow-listed sensors only (ble.md). BlueZ asks
// it when a sensor starts pairing itself or a passkey is needed; anything else is Rejected.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sdbus {
class IConnection;
class IObject;
}  // namespace sdbus

namespace transport::ble {

class Agent {
 public:
  // Maps a device object path to its normalized address if allow-listed, else nullopt.
  using AllowedFn = std::function<std::optional<std::string>(const std::string& device_path)>;
  // The configured fixed passkey for an (allowed, normalized) address.
  using PasskeyFn = std::function<std::optional<std::uint32_t>(const std::string& address)>;

  static constexpr const char* kPath = "/org/mqttsn/ble/agent";

  // Exports the object (local registration, no bus round trip).
  Agent(sdbus::IConnection& conn, AllowedFn allowed, PasskeyFn passkey);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

 private:
  std::string check(const std::string& device_path, const char* what) const;  // throws Rejected
  AllowedFn allowed_;
  PasskeyFn passkey_;
  std::unique_ptr<sdbus::IObject> object_;
};

}  // namespace transport::ble
