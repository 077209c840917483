#include "transports/ble/agent.hpp"

#include "transports/log/limited_log.hpp"

#include <spdlog/spdlog.h>

#include <sdbus-c++/sdbus-c++.h>

#include "transports/ble/bluez.hpp"

namespace transport::ble {

Agent::Agent(sdbus::IConnection& conn, AllowedFn allowed, PasskeyFn passkey)
    : allowed_(std::move(allowed)),
      passkey_(std::move(passkey)),
      object_(sdbus::createObject(conn, kPath)) {
  using sdbus::ObjectPath;
  const char* iface = bluez::kAgent;
  // sdbus-c++ turns an sdbus::Error thrown by a handler into an error reply.
  object_->registerMethod("Release").onInterface(iface).implementedAs(
      [] { spdlog::info("BLE agent released by BlueZ"); });
  object_->registerMethod("Cancel").onInterface(iface).implementedAs(
      [] { util::log_limited("BLE agent", spdlog::level::info, "BLE pairing cancelled"); });
  object_->registerMethod("RequestPinCode")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev) -> std::string {
        check(dev, "PIN code");
        throw sdbus::Error(bluez::kRejected, "legacy PIN pairing is not supported");
      });
  object_->registerMethod("DisplayPinCode")
      .onInterface(iface)
      .implementedAs(
          [this](const ObjectPath& dev, const std::string&) { check(dev, "PIN display"); });
  object_->registerMethod("RequestPasskey")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev) -> std::uint32_t {
        const auto addr = check(dev, "passkey");
        const auto key = passkey_(addr);
        if (!key) {
          util::log_limited("BLE agent rejected", spdlog::level::warn,
                            "BLE agent: {} asked for a passkey but none is configured: rejected",
                            addr);
          throw sdbus::Error(bluez::kRejected, "no passkey configured");
        }
        util::log_limited("BLE agent", spdlog::level::info, "BLE agent: passkey supplied for {}",
                          addr);
        return *key;
      });
  object_->registerMethod("DisplayPasskey")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev, std::uint32_t, std::uint16_t) {
        check(dev, "passkey display");
      });
  object_->registerMethod("RequestConfirmation")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev, std::uint32_t) { check(dev, "confirmation"); });
  object_->registerMethod("RequestAuthorization")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev) { check(dev, "authorization"); });
  object_->registerMethod("AuthorizeService")
      .onInterface(iface)
      .implementedAs([this](const ObjectPath& dev, const std::string&) {
        check(dev, "service authorization");
      });
  object_->finishRegistration();
}

Agent::~Agent() = default;

std::string Agent::check(const std::string& device_path, const char* what) const {
  std::optional<std::string> addr;
  try {
    addr = allowed_(device_path);
  } catch (...) {
  }
  if (!addr) {
    util::log_limited("BLE agent rejected", spdlog::level::warn,
                      "BLE agent: {} request from {} (not in allow-list): rejected", what,
                      device_path);
    throw sdbus::Error(bluez::kRejected, "device not in allow-list");
  }
  util::log_limited("BLE agent", spdlog::level::info, "BLE agent: {} request from {}: accepted",
                    what, *addr);
  return *addr;
}

}  // namespace transport::ble
