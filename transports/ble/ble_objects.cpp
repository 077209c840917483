// What bluetoothd has: adapters (which ones we use, powering, discovery) and devices, from
// GetManagedObjects, InterfacesAdded/Removed and PropertiesChanged.
#include <algorithm>

#include "transports/ble/ble_impl.hpp"
#include "transports/log/limited_log.hpp"

namespace transport {

using namespace ble::detail;
namespace bluez = ble::bluez;

namespace {

std::string adapter_name(const std::string& path) {
  const auto pos = path.rfind('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace

void BleTransport::Impl::on_object_manager(sdbus::Message& m) {
  sdbus::ObjectPath path;
  if (m.getMemberName() == "InterfacesAdded") {
    bluez::Interfaces ifaces;
    m >> path >> ifaces;
    interfaces_added(path, ifaces);
    if (ifaces.count(bluez::kAdapter)) choose_adapters();
  } else if (m.getMemberName() == "InterfacesRemoved") {
    std::vector<std::string> names;
    m >> path >> names;
    for (const auto& n : names) interface_removed(path, n);
  }
}

void BleTransport::Impl::interfaces_added(const std::string& path,
                                          const bluez::Interfaces& ifaces) {
  if (const auto it = ifaces.find(bluez::kAdapter); it != ifaces.end()) {
    adapters[path].powered = bluez::get<bool>(it->second, "Powered").value_or(false);
  }
  if (const auto it = ifaces.find(bluez::kGattService); it != ifaces.end()) {
    services[path] = lower(bluez::get<std::string>(it->second, "UUID").value_or(""));
  }
  if (const auto it = ifaces.find(bluez::kGattChar); it != ifaces.end()) {
    Characteristic c;
    c.uuid = lower(bluez::get<std::string>(it->second, "UUID").value_or(""));
    c.service = bluez::get<sdbus::ObjectPath>(it->second, "Service").value_or(sdbus::ObjectPath{});
    c.mtu = bluez::get<std::uint16_t>(it->second, "MTU").value_or(kDefaultMtu);
    chars[path] = c;
  }
  if (const auto it = ifaces.find(bluez::kDevice); it != ifaces.end())
    device_added(path, it->second);
}

void BleTransport::Impl::interface_removed(const std::string& path, const std::string& iface) {
  if (iface == bluez::kAdapter) {
    const auto it = adapters.find(path);
    if (it == adapters.end()) return;
    if (it->second.in_use) spdlog::warn("BLE: adapter {} removed", path);
    adapter_lost(path);
    choose_adapters();
  } else if (iface == bluez::kDevice) {
    const auto it = devices.find(path);
    if (it == devices.end()) return;
    util::log_limited("BLE device removed", spdlog::level::info, "BLE: {} removed by BlueZ",
                      it->second.address);
    if (it->second.state != State::Idle) links.link_lost(it->second.address, Clock::now());
    bury_device(it->second);
    devices.erase(it);
  } else if (iface == bluez::kGattService) {
    services.erase(path);
  } else if (iface == bluez::kGattChar) {
    chars.erase(path);
    for (auto& [p, d] : devices) {
      if (d.rx_path == path || d.tx_path == path) link_down(d, "GATT characteristic removed");
    }
  }
}

void BleTransport::Impl::on_properties_changed(sdbus::Message& m) {
  std::string iface;
  bluez::Props changed;
  m >> iface >> changed;
  const std::string path = m.getPath();
  if (iface == bluez::kAdapter) {
    adapter_changed(path, changed);
  } else if (iface == bluez::kDevice) {
    if (const auto it = devices.find(path); it != devices.end())
      device_changed(it->second, changed);
  } else if (iface == bluez::kGattChar) {
    const auto it = chars.find(path);
    if (it == chars.end()) return;
    if (auto mtu = bluez::get<std::uint16_t>(changed, "MTU")) it->second.mtu = *mtu;
    if (auto value = bluez::get<std::vector<std::uint8_t>>(changed, "Value"))
      notification(path, *value);
  }
}

// ---------------------------------------------------------------- adapters

// [ble] adapters lists the ones to use; without it, `adapter` or the first one found.
bool BleTransport::Impl::wanted_adapter(const std::string& path) const {
  const auto name = adapter_name(path);
  if (!cfg.adapters.empty())
    return std::find(cfg.adapters.begin(), cfg.adapters.end(), name) != cfg.adapters.end();
  if (!single_adapter.empty()) return path == single_adapter;
  return cfg.adapter.empty() || name == cfg.adapter;
}

void BleTransport::Impl::choose_adapters() {
  if (stopping) return;
  bool any = false;
  for (auto& [path, a] : adapters) {
    if (!wanted_adapter(path)) continue;
    any = true;
    if (a.in_use) continue;
    a.in_use = true;
    if (cfg.adapters.empty()) single_adapter = path;
    no_adapter_logged = false;
    a.proxy = sdbus::createProxy(*conn, bluez::kService, path);
    spdlog::info("BLE: using adapter {}", path);
    if (a.powered) {
      adapter_up(path);
    } else {
      power_on(path);
    }
  }
  if (!any && !no_adapter_logged) {
    spdlog::warn("BLE: no adapter {}yet; waiting for one to appear",
                 cfg.adapters.empty() && cfg.adapter.empty() ? "" : "of the configured ones ");
    no_adapter_logged = true;
  }
}

void BleTransport::Impl::adapter_lost(const std::string& path) {
  const auto it = adapters.find(path);
  if (it == adapters.end()) return;
  adapter_down(path);
  bury(it->second.proxy);
  adapters.erase(it);
  if (path == single_adapter) single_adapter.clear();
}

void BleTransport::Impl::adapter_changed(const std::string& path, const bluez::Props& changed) {
  const auto it = adapters.find(path);
  if (it == adapters.end()) return;
  auto& a = it->second;
  auto powered = bluez::get<bool>(changed, "Powered");
  if (powered) a.powered = *powered;
  if (!a.in_use) return;
  if (powered && *powered) {
    a.blocked_logged = false;
    adapter_up(path);
  } else if (powered && !*powered) {
    spdlog::warn("BLE: adapter {} powered off", path);
    adapter_down(path);
    a.power_retry_at = Clock::now() + kAdapterRetry;
  }
  if (auto discovering = bluez::get<bool>(changed, "Discovering");
      discovering && !*discovering && a.ready) {
    start_discovery(path);  // someone stopped it (or the adapter reset): we still want adverts
  }
}

void BleTransport::Impl::power_on(const std::string& path) {
  auto& a = adapters[path];
  if (!a.proxy || a.powering) return;
  a.powering = true;
  const auto epoch = bluez_epoch;
  a.proxy->callMethodAsync("Set")
      .onInterface(bluez::kProperties)
      .withArguments(std::string(bluez::kAdapter), std::string("Powered"), sdbus::Variant(true))
      .uponReplyInvoke([this, epoch, path](const sdbus::Error* e) {
        guarded("Set Powered", [&] {
          const auto it = adapters.find(path);
          if (epoch != bluez_epoch || it == adapters.end()) return;
          auto& ad = it->second;
          ad.powering = false;
          if (!e) {
            spdlog::info("BLE: adapter {} powering on", path);
            return;  // PropertiesChanged(Powered=true) follows
          }
          if (bluez::error_is(e, "Blocked")) {
            if (!ad.blocked_logged)
              spdlog::error("BLE: adapter {} is blocked by rfkill (rfkill unblock bluetooth)",
                            path);
            ad.blocked_logged = true;
          } else {
            spdlog::warn("BLE: cannot power on {}: {}", path, why(e));
          }
          ad.power_retry_at = Clock::now() + kAdapterRetry;
        });
      });
}

void BleTransport::Impl::adapter_up(const std::string& path) {
  auto& a = adapters[path];
  if (a.ready) return;
  a.ready = true;
  a.powered = true;
  links.adapter_up(path);
  start_discovery(path);
  for (auto& [p, d] : devices) {
    if (d.adapter == path) seen(d);
  }
  run_links();
}

void BleTransport::Impl::adapter_down(const std::string& path) {
  auto& a = adapters[path];
  a.ready = false;
  links.adapter_down(path);
  for (auto& [p, d] : devices) {
    if (d.adapter != path) continue;
    link_down(d, "adapter down");
    d.connected = false;
    d.resolved = false;
    d.state = State::Idle;
    d.releasing = false;
    ++d.epoch;
  }
}

void BleTransport::Impl::start_discovery(const std::string& path) {
  auto& a = adapters[path];
  if (!a.proxy) return;
  const auto epoch = bluez_epoch;
  std::map<std::string, sdbus::Variant> filter;
  filter["Transport"] = sdbus::Variant(std::string("le"));
  filter["UUIDs"] = sdbus::Variant(std::vector<std::string>{cfg.service_uuid});
  if (cfg.rssi_min) filter["RSSI"] = sdbus::Variant(*cfg.rssi_min);
  a.proxy->callMethodAsync("SetDiscoveryFilter")
      .onInterface(bluez::kAdapter)
      .withArguments(filter)
      .uponReplyInvoke([this, epoch, path](const sdbus::Error* e) {
        guarded("SetDiscoveryFilter", [&] {
          const auto it = adapters.find(path);
          if (epoch != bluez_epoch || it == adapters.end() || !it->second.ready) return;
          if (e) spdlog::warn("BLE: SetDiscoveryFilter on {} failed: {}", path, why(e));
          it->second.proxy->callMethodAsync("StartDiscovery")
              .onInterface(bluez::kAdapter)
              .uponReplyInvoke([this, epoch, path](const sdbus::Error* e2) {
                guarded("StartDiscovery", [&] {
                  if (epoch != bluez_epoch) return;
                  if (e2 && !bluez::error_is(e2, "InProgress")) {
                    spdlog::warn("BLE: StartDiscovery on {} failed: {}", path, why(e2));
                  } else {
                    spdlog::info("BLE: {} discovering sensors with service {}", path,
                                 cfg.service_uuid);
                  }
                });
              });
        });
      });
}

// ---------------------------------------------------------------- devices

std::optional<std::string> BleTransport::Impl::allowed_address_of(const std::string& path) const {
  std::optional<std::string> addr;
  if (const auto it = devices.find(path); it != devices.end()) {
    addr = it->second.address;
  } else if (const auto pos = path.rfind("/dev_"); pos != std::string::npos) {
    std::string s = path.substr(pos + 5);
    std::replace(s.begin(), s.end(), '_', ':');
    addr = ble::normalize_address(s);
  }
  if (!addr || !allowed.count(*addr)) return std::nullopt;
  return addr;
}

void BleTransport::Impl::device_added(const std::string& path, const bluez::Props& props) {
  auto addr = ble::parse_address(bluez::get<std::string>(props, "Address").value_or(""));
  if (!addr) return;
  auto [it, inserted] = devices.try_emplace(path, cfg.max_message, cfg.reassembly_timeout);
  Device& d = it->second;
  if (inserted) {
    d.path = path;
    d.octets = *addr;
    d.address = ble::format_address(*addr);
    const auto pos = path.rfind("/dev_");
    d.adapter = pos == std::string::npos ? std::string() : path.substr(0, pos);
  }
  device_changed(d, props);
  seen(d);  // known to BlueZ (bonded, or just discovered): a candidate for a link
  run_links();
}

void BleTransport::Impl::device_changed(Device& d, const bluez::Props& p) {
  if (auto v = bluez::get<std::string>(p, "Alias")) d.name = *v;
  if (auto v = bluez::get<std::string>(p, "Name")) d.name = *v;
  if (auto v = bluez::get<bool>(p, "Paired")) d.paired = *v;
  if (auto v = bluez::get<bool>(p, "Bonded")) d.bonded = *v;
  if (auto v = bluez::get<bool>(p, "Trusted")) d.trusted = *v;
  const auto rssi = bluez::get<std::int16_t>(p, "RSSI");
  if (rssi) d.rssi = *rssi;
  if (auto v = bluez::get<bool>(p, "Connected")) {
    d.connected = *v;
    if (!*v) {
      d.resolved = false;
      link_lost(d);
    } else if (d.revoked && !allowed.count(d.address)) {
      disconnect(d);  // a Pair or Connect still in flight when it was revoked
    }
  }
  if (auto v = bluez::get<bool>(p, "ServicesResolved")) {
    d.resolved = *v;
    if (*v && d.state == State::Resolving) setup_gatt(d);
  }
  // An advertisement (BlueZ updates RSSI for each one it reports).
  if (rssi && d.state == State::Idle) {
    seen(d);
    run_links();
  }
}

}  // namespace transport
