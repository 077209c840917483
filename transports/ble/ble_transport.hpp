// BLE transport: the gateway as GATT central, talking to bluetoothd over the system D-Bus
// (sdbus-c++ on the gateway's libuv loop) and carrying MQTT-SN over a Nordic-UART-shaped service.
// See docs/ble.md. Moves bytes only; the MQTT-SN length header is used for reassembly, nothing
// else.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "transports/peer_address.hpp"

namespace transport {

struct BleConfig {
  std::string adapter;                       // "" = first adapter found (e.g. "hci0")
  std::vector<std::string> adapters;         // several adapters ("hci0", "hci1"); empty = `adapter`
  std::size_t max_connections = 5;           // GATT links at once per adapter
  std::chrono::seconds idle_disconnect{30};  // an asleep sensor's link is released; 0 = never
  std::vector<std::string> allow;  // identity addresses "C0:FF:EE:00:00:01" (case-insensitive)
  std::string service_uuid = "6e400001-b5a3-f393-e0a9-e50e24dcca9e";
  std::string rx_uuid = "6e400002-b5a3-f393-e0a9-e50e24dcca9e";  // we write
  std::string tx_uuid = "6e400003-b5a3-f393-e0a9-e50e24dcca9e";  // sensor notifies
  std::optional<std::int16_t> rssi_min;
  std::map<std::string, std::uint32_t> passkeys;  // address -> fixed passkey
  std::chrono::milliseconds reassembly_timeout{3000};
  std::size_t max_message = 1024;
  // AcquireNotify / AcquireWrite sockets where BlueZ offers them; false: always
  // StartNotify + PropertiesChanged and WriteValue.
  bool acquire = true;
};

class BleTransport final : public Transport {
 public:
  using FatalFn = std::function<void(const std::string&)>;

  // Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) and exports the pairing agent.
  // Throws std::runtime_error with a readable message if the bus cannot be reached or an allow-list
  // or passkey address is malformed. on_fatal: the D-Bus connection itself is lost later on.
  static std::unique_ptr<BleTransport> create(uv_loop_t* loop, BleConfig cfg, ReceiveFn on_receive,
                                              FatalFn on_fatal);
  ~BleTransport() override;
  BleTransport(const BleTransport&) = delete;
  BleTransport& operator=(const BleTransport&) = delete;

  void start();                                // async from here on; never blocks the loop
  void stop(std::function<void()> on_closed);  // closes all uv handles; on_closed when done

  Kind kind() const noexcept override { return Kind::Ble; }
  void send(const PeerAddress& to,
            std::span<const std::uint8_t> bytes) override;  // MTU-3 chunks, queued

  void set_peer_idle(const PeerAddress& peer, bool idle) override;

  struct DeviceInfo {
    std::string address, name;
    int rssi;
    bool paired, bonded, trusted, connected;
    unsigned mtu;
    std::uint64_t errors;
    std::string adapter;  // "hci0" while it holds (or is getting) a link, else ""
    std::uint64_t connects = 0, refused = 0;
  };
  std::vector<DeviceInfo> devices() const;  // for status

  struct AdapterInfo {
    std::string name;  // "hci0"
    bool powered = false, in_use = false;
    std::size_t links = 0, max_links = 0, max_connections = 0;
    std::uint64_t connects = 0, refused = 0, released = 0;
  };
  std::vector<AdapterInfo> adapters() const;  // for status

  // Applies a new [ble] allow (SIGHUP): devices no longer allowed are disconnected and neither
  // paired nor connected again; newly allowed ones already discovered are paired/connected now,
  // the others when discovery finds them. Logs what changed. Returns an error text (and changes
  // nothing) if an address is malformed.
  std::string set_allow(const std::vector<std::string>& allow);

  struct Impl;

 private:
  struct Private {};

 public:
  BleTransport(Private, std::unique_ptr<Impl> impl);  // use create()

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace transport
