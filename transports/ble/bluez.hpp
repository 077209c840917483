// BlueZ 5.66 D-Bus names (doc/*-api.txt in the bluez repository) and property helpers.
#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <map>
#include <optional>
#include <string>

namespace transport::ble::bluez {

inline constexpr const char* kService = "org.bluez";
inline constexpr const char* kAdapter = "org.bluez.Adapter1";
inline constexpr const char* kDevice = "org.bluez.Device1";
inline constexpr const char* kAgentManager = "org.bluez.AgentManager1";
inline constexpr const char* kAgent = "org.bluez.Agent1";
inline constexpr const char* kGattService = "org.bluez.GattService1";
inline constexpr const char* kGattChar = "org.bluez.GattCharacteristic1";
inline constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
inline constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
inline constexpr const char* kRejected = "org.bluez.Error.Rejected";

using Props = std::map<std::string, sdbus::Variant>;
using Interfaces = std::map<std::string, Props>;
using ManagedObjects = std::map<sdbus::ObjectPath, Interfaces>;

// The property's value if present with the expected D-Bus type.
template <typename T>
std::optional<T> get(const Props& props, const std::string& name) {
  const auto it = props.find(name);
  if (it == props.end() || !it->second.template containsValueOfType<T>()) return std::nullopt;
  return it->second.template get<T>();
}

// D-Bus error names end in a short reason: "org.bluez.Error.AlreadyExists" -> "AlreadyExists".
inline bool error_is(const sdbus::Error* e, const char* suffix) {
  if (e == nullptr) return false;
  const std::string& n = e->getName();
  const std::string s(suffix);
  return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0;
}

}  // namespace transport::ble::bluez
