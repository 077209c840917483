// mqttsn-ble: the operator's pairing tool for BLE sensors, talking to bluetoothd over the system
// D-Bus (DBUS_SYSTEM_BUS_ADDRESS honoured). A command-line tool, so synchronous calls are fine
// here, except Pair, which runs while we answer our own agent.
//
//   mqttsn-ble list                       known sensors
//   mqttsn-ble scan [--seconds N] [--all] discover advertising sensors
//   mqttsn-ble pair ADDR [--config FILE] [--passkey N]
//   mqttsn-ble remove ADDR                forget the bond (RemoveDevice)
#include <poll.h>

#include <sdbus-c++/sdbus-c++.h>
#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "transports/ble/agent.hpp"
#include "transports/ble/ble_address.hpp"
#include "transports/ble/bluez.hpp"

namespace {

namespace bluez = transport::ble::bluez;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string adapter;
  std::string service_uuid = "6e400001-b5a3-f393-e0a9-e50e24dcca9e";
  int seconds = 10;
  bool all = false;
  std::string address;
  std::string config;
  std::optional<std::uint32_t> passkey;
  unsigned max_connections = 5;
};

struct Bluez {
  std::unique_ptr<sdbus::IConnection> conn = sdbus::createSystemBusConnection();
  std::unique_ptr<sdbus::IProxy> root = sdbus::createProxy(*conn, bluez::kService, "/");

  bluez::ManagedObjects objects() {
    bluez::ManagedObjects out;
    root->callMethod("GetManagedObjects").onInterface(bluez::kObjectManager).storeResultsTo(out);
    return out;
  }

  std::string adapter_path(const Options& o) {
    for (const auto& [path, ifaces] : objects()) {
      if (!ifaces.count(bluez::kAdapter)) continue;
      if (o.adapter.empty() || path == "/org/bluez/" + o.adapter) return path;
    }
    throw std::runtime_error(o.adapter.empty() ? "no Bluetooth adapter found"
                                               : "adapter " + o.adapter + " not found");
  }

  // Processes bus traffic (signals, our agent's method calls) for a while.
  void pump_for(std::chrono::milliseconds d, const bool* done = nullptr) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until && !(done && *done)) {
      while (conn->processPendingRequest()) {
      }
      if (done && *done) return;
      const auto pd = conn->getEventLoopPollData();
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      int timeout = static_cast<int>(std::max<long long>(0, std::min<long long>(left, 200)));
      const int bus_timeout = pd.getPollTimeout();
      if (bus_timeout >= 0 && bus_timeout < timeout) timeout = bus_timeout;
      pollfd p{pd.fd, pd.events, 0};
      ::poll(&p, 1, timeout);
    }
  }
};

std::string yes_no(bool b) {
  return b ? "yes" : "no";
}

unsigned mtu_under(const bluez::ManagedObjects& objs, const std::string& dev) {
  unsigned mtu = 0;
  for (const auto& [path, ifaces] : objs) {
    const auto it = ifaces.find(bluez::kGattChar);
    if (it == ifaces.end() || path.compare(0, dev.size() + 1, dev + "/") != 0) continue;
    mtu = std::max<unsigned>(mtu, bluez::get<std::uint16_t>(it->second, "MTU").value_or(0));
  }
  return mtu;
}

// With `all_adapters` (list without --adapter): every adapter's devices, then slot use per adapter.
void print_devices(Bluez& b, const Options& o, bool only_seen, bool all_adapters = false) {
  const auto adapter = all_adapters ? std::string() : b.adapter_path(o);
  const auto objs = b.objects();
  std::printf("%-17s  %-20s %5s  %-6s %-6s %-7s %-9s %-4s %s\n", "ADDRESS", "NAME", "RSSI",
              "PAIRED", "BONDED", "TRUSTED", "CONNECTED", "MTU", "ADAPTER");
  std::map<std::string, unsigned> links;
  for (const auto& [path, ifaces] : objs) {
    const auto it = ifaces.find(bluez::kDevice);
    if (it == ifaces.end()) continue;
    const auto slash = path.rfind('/');
    const std::string parent = path.substr(0, slash);
    if (!adapter.empty() && parent != adapter) continue;
    const auto& p = it->second;
    const auto rssi = bluez::get<std::int16_t>(p, "RSSI");
    if (only_seen && !rssi) continue;
    const bool connected = bluez::get<bool>(p, "Connected").value_or(false);
    if (connected) ++links[parent];
    const auto mtu = mtu_under(objs, path);
    std::printf("%-17s  %-20s %5s  %-6s %-6s %-7s %-9s %-4s %s\n",
                bluez::get<std::string>(p, "Address").value_or("?").c_str(),
                bluez::get<std::string>(p, "Alias").value_or("").c_str(),
                rssi ? std::to_string(*rssi).c_str() : "-",
                yes_no(bluez::get<bool>(p, "Paired").value_or(false)).c_str(),
                yes_no(bluez::get<bool>(p, "Bonded").value_or(false)).c_str(),
                yes_no(bluez::get<bool>(p, "Trusted").value_or(false)).c_str(),
                yes_no(connected).c_str(), connected && mtu ? std::to_string(mtu).c_str() : "-",
                parent.substr(parent.rfind('/') + 1).c_str());
  }
  if (!all_adapters) return;
  // Slot use: links now out of [ble] max_connections (from --config, else the default 5).
  std::printf("\n%-8s %-7s %s\n", "ADAPTER", "POWERED", "LINKS");
  for (const auto& [path, ifaces] : objs) {
    const auto it = ifaces.find(bluez::kAdapter);
    if (it == ifaces.end()) continue;
    std::printf("%-8s %-7s %u/%u\n", path.substr(path.rfind('/') + 1).c_str(),
                yes_no(bluez::get<bool>(it->second, "Powered").value_or(false)).c_str(),
                links[path], o.max_connections);
  }
}

void power_on(Bluez& b, const std::string& adapter) {
  auto proxy = sdbus::createProxy(*b.conn, bluez::kService, adapter);
  sdbus::Variant powered;
  proxy->callMethod("Get")
      .onInterface(bluez::kProperties)
      .withArguments(std::string(bluez::kAdapter), std::string("Powered"))
      .storeResultsTo(powered);
  if (powered.get<bool>()) return;
  proxy->callMethod("Set")
      .onInterface(bluez::kProperties)
      .withArguments(std::string(bluez::kAdapter), std::string("Powered"), sdbus::Variant(true));
}

// Discovers for o.seconds (or until `stop_when` says so); returns with discovery stopped.
void discover(Bluez& b, const Options& o, const std::function<bool()>& stop_when = {}) {
  const auto adapter = b.adapter_path(o);
  power_on(b, adapter);
  auto proxy = sdbus::createProxy(*b.conn, bluez::kService, adapter);
  std::map<std::string, sdbus::Variant> filter;
  filter["Transport"] = sdbus::Variant(std::string("le"));
  if (!o.all) filter["UUIDs"] = sdbus::Variant(std::vector<std::string>{o.service_uuid});
  proxy->callMethod("SetDiscoveryFilter").onInterface(bluez::kAdapter).withArguments(filter);
  proxy->callMethod("StartDiscovery").onInterface(bluez::kAdapter);
  const auto until = Clock::now() + std::chrono::seconds(o.seconds);
  while (Clock::now() < until) {
    b.pump_for(std::chrono::milliseconds(250));
    if (stop_when && stop_when()) break;
  }
  try {
    proxy->callMethod("StopDiscovery").onInterface(bluez::kAdapter);
  } catch (const sdbus::Error&) {
    // Already stopped (adapter reset): nothing to undo.
  }
}

std::optional<std::string> device_path_of(Bluez& b, const std::string& adapter,
                                          const std::string& addr) {
  const auto octets = transport::ble::parse_address(addr);
  const auto path = transport::ble::device_path(adapter, *octets);
  const auto objs = b.objects();
  const auto it = objs.find(sdbus::ObjectPath(path));
  if (it == objs.end() || !it->second.count(bluez::kDevice)) return std::nullopt;
  return path;
}

std::string rtrim(std::string s) {
  s.erase(s.find_last_not_of(" \t") + 1);
  return s;
}

// A TOML line without its comment (a '#' outside a string).
std::string strip_comment(const std::string& line) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"' && (i == 0 || line[i - 1] != '\\')) quoted = !quoted;
    if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

// Adds `addr` to the [ble] allow array of a TOML file, editing the text so comments stay.
void add_to_config(const std::string& file, const std::string& addr) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string original = ss.str();
  auto parsed = toml::parse(original, file);
  if (auto arr = parsed["ble"]["allow"].as_array()) {
    for (const auto& v : *arr) {
      if (v.value<std::string>() &&
          transport::ble::normalize_address(*v.value<std::string>()) == addr) {
        std::printf("%s is already in [ble] allow of %s\n", addr.c_str(), file.c_str());
        return;
      }
    }
  }
  bool has_items = false;
  if (auto arr = parsed["ble"]["allow"].as_array()) has_items = !arr->empty();
  std::vector<std::string> lines;
  std::istringstream rd(original);
  for (std::string line; std::getline(rd, line);) lines.push_back(line);
  const std::string item = "\"" + addr + "\"";
  auto trim = [](const std::string& s) {
    return s.substr(std::min(s.size(), s.find_first_not_of(" \t")));
  };
  std::size_t ble_at = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]).rfind("[ble]", 0) == 0) ble_at = i;
  }
  bool done = false;
  if (ble_at == lines.size()) {
    lines.push_back("");
    lines.push_back("[ble]");
    lines.push_back("allow = [" + item + "]");
    done = true;
  } else {
    std::size_t end = ble_at + 1;
    while (end < lines.size() && trim(lines[end]).rfind('[', 0) != 0) ++end;
    for (std::size_t i = ble_at + 1; i < end && !done; ++i) {
      if (trim(lines[i]).rfind("allow", 0) != 0) continue;
      for (std::size_t j = i; j < end; ++j) {  // the closing bracket, possibly lines later
        const auto close = lines[j].rfind(']');
        if (close == std::string::npos) continue;
        // Text before the bracket on its line, and whether the array already has elements.
        const auto open = j == i ? lines[j].find('[') : std::string::npos;
        const auto before =
            rtrim(lines[j].substr(open == std::string::npos ? 0 : open + 1,
                                  close - (open == std::string::npos ? 0 : open + 1)));
        if (!before.empty()) {  // `allow = ["A"]` or `  "B"]`
          lines[j].insert(close, before.back() == ',' ? " " + item : ", " + item);
        } else if (j == i || !has_items) {  // `allow = []` or an empty multi-line array
          lines[j].insert(close, item);
        } else {  // multi-line: the element goes on its own line, after a comma on the last one
          for (std::size_t k = j - 1; k > i; --k) {
            const auto content = rtrim(strip_comment(lines[k]));
            if (content.empty()) continue;
            if (content.back() != ',') lines[k].insert(content.size(), ",");
            break;
          }
          lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(j), "  " + item + ",");
        }
        done = true;
        break;
      }
    }
    if (!done) {
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(ble_at) + 1,
                   "allow = [" + item + "]");
      done = true;
    }
  }
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  // Never write a file we cannot read back, or one that does not say what we meant.
  const auto reread = toml::parse(text, file);
  bool listed = false;
  if (auto arr = reread["ble"]["allow"].as_array()) {
    for (const auto& v : *arr) listed = listed || v.value<std::string>() == addr;
  }
  if (!listed)
    throw std::runtime_error("could not add " + addr + " to [ble] allow in " + file +
                             "; add it by hand");
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file);
  std::printf("added %s to [ble] allow in %s (reload the gateway to use it)\n", addr.c_str(),
              file.c_str());
}

int cmd_pair(Bluez& b, const Options& o) {
  const auto addr = *transport::ble::normalize_address(o.address);
  const auto adapter = b.adapter_path(o);
  power_on(b, adapter);
  auto path = device_path_of(b, adapter, addr);
  if (!path) {
    std::printf("scanning for %s (up to %d s)...\n", addr.c_str(), o.seconds);
    discover(b, o, [&] { return device_path_of(b, adapter, addr).has_value(); });
    path = device_path_of(b, adapter, addr);
    if (!path) {
      std::fprintf(stderr, "%s not found: is it advertising (and in range)?\n", addr.c_str());
      return 1;
    }
  }
  // Our agent answers for this one sensor only (a passkey if given).
  transport::ble::Agent agent(
      *b.conn,
      [&](const std::string& p) -> std::optional<std::string> {
        return p == *path ? std::optional(addr) : std::nullopt;
      },
      [&](const std::string&) { return o.passkey; });
  auto manager = sdbus::createProxy(*b.conn, bluez::kService, "/org/bluez");
  manager->callMethod("RegisterAgent")
      .onInterface(bluez::kAgentManager)
      .withArguments(sdbus::ObjectPath(transport::ble::Agent::kPath),
                     std::string(o.passkey ? "KeyboardDisplay" : "NoInputNoOutput"));
  auto dev = sdbus::createProxy(*b.conn, bluez::kService, *path);
  bool done = false;
  std::optional<sdbus::Error> failure;
  dev->callMethodAsync("Pair")
      .onInterface(bluez::kDevice)
      .withTimeout(std::chrono::seconds(60))
      .uponReplyInvoke([&](const sdbus::Error* e) {
        if (e && !bluez::error_is(e, "AlreadyExists")) failure = *e;
        done = true;
      });
  b.pump_for(std::chrono::seconds(65), &done);
  try {
    manager->callMethod("UnregisterAgent")
        .onInterface(bluez::kAgentManager)
        .withArguments(sdbus::ObjectPath(transport::ble::Agent::kPath));
  } catch (const sdbus::Error&) {
  }
  if (!done || failure) {
    std::fprintf(stderr, "pairing %s failed: %s\n", addr.c_str(),
                 failure ? failure->what() : "timed out");
    return 1;
  }
  dev->callMethod("Set")
      .onInterface(bluez::kProperties)
      .withArguments(std::string(bluez::kDevice), std::string("Trusted"), sdbus::Variant(true));
  std::printf("paired and trusted %s\n", addr.c_str());
  if (o.config.empty()) {
    std::printf("add it to the gateway configuration:\n\n[ble]\nallow = [\"%s\"]\n", addr.c_str());
  } else {
    add_to_config(o.config, addr);
  }
  return 0;
}

int cmd_remove(Bluez& b, const Options& o) {
  const auto addr = *transport::ble::normalize_address(o.address);
  const auto adapter = b.adapter_path(o);
  const auto path = device_path_of(b, adapter, addr);
  if (!path) {
    std::fprintf(stderr, "%s is not known to BlueZ\n", addr.c_str());
    return 1;
  }
  auto proxy = sdbus::createProxy(*b.conn, bluez::kService, adapter);
  proxy->callMethod("RemoveDevice")
      .onInterface(bluez::kAdapter)
      .withArguments(sdbus::ObjectPath(*path));
  std::printf("removed %s (bond deleted; also remove it from [ble] allow)\n", addr.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "mqttsn-ble: list, scan, pair and remove BLE sensors for the MQTT-SN gateway (through "
      "BlueZ)"};
  app.require_subcommand(1);
  app.add_option("--adapter", o.adapter, "adapter name, e.g. hci0 (default: the first)");
  app.add_option("--service-uuid", o.service_uuid, "GATT service the sensors advertise");
  const auto address_ok = [](const std::string& s) {
    return transport::ble::parse_address(s) ? std::string()
                                            : "not a BLE address (C0:FF:EE:00:00:01): " + s;
  };
  auto* list = app.add_subcommand(
      "list",
      "known sensors: address, name, RSSI, paired/bonded/trusted, connected, MTU, adapter; then "
      "links per adapter out of [ble] max_connections");
  list->add_option("--config", o.config, "gateway TOML file to read [ble] max_connections from");
  auto* scan = app.add_subcommand("scan", "discover sensors advertising the service");
  scan->add_option("--seconds", o.seconds, "how long to scan")->check(CLI::Range(1, 3600));
  scan->add_flag("--all", o.all, "show every LE device, not only those advertising the service");
  auto* pair = app.add_subcommand(
      "pair", "pair and trust a sensor, and print (or add) its [ble] allow entry");
  pair->add_option("address", o.address)->required()->check(address_ok);
  pair->add_option("--config", o.config, "gateway TOML file: add the address to [ble] allow");
  pair->add_option("--seconds", o.seconds, "how long to scan for it if unknown")
      ->check(CLI::Range(1, 3600));
  pair->add_flag("--all", o.all, "scan for it even if it does not advertise the service");
  auto* passkey = pair->add_option_function<std::uint32_t>(
      "--passkey", [&](const std::uint32_t& k) { o.passkey = k; },
      "the sensor's fixed 6-digit passkey");
  passkey->check(CLI::Range(0, 999999));
  auto* remove = app.add_subcommand("remove", "unpair a sensor (RemoveDevice)");
  remove->add_option("address", o.address)->required()->check(address_ok);
  CLI11_PARSE(app, argc, argv);

  try {
    Bluez b;
    if (*list) {
      if (!o.config.empty()) {
        const auto cfg = toml::parse_file(o.config);
        o.max_connections =
            static_cast<unsigned>(cfg["ble"]["max_connections"].value_or<std::int64_t>(5));
      }
      print_devices(b, o, false, o.adapter.empty());
    }
    if (*scan) {
      discover(b, o);
      print_devices(b, o, true);
    }
    if (*pair) return cmd_pair(b, o);
    if (*remove) return cmd_remove(b, o);
  } catch (const sdbus::Error& e) {
    std::fprintf(stderr, "mqttsn-ble: %s: %s\n", e.getName().c_str(), e.getMessage().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqttsn-ble: %s\n", e.what());
    return 1;
  }
  return 0;
}
