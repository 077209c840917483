// Runs the real BleTransport on a libuv loop for the Python tests (test_ble_transport.py).
// stdin, one command a line:  send ADDR HEX | devices | allow [ADDR...] | stop
// stdout, one event a line:   recv ADDR HEX | device ADDR k=v... | end | allowed [ERROR] |
//                             fatal TEXT | stopped |
// closed RC Exit status: 0 after stop, 3 after a fatal error (the D-Bus connection was lost).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "transports/ble/ble_address.hpp"
#include "transports/ble/ble_transport.hpp"

namespace {

std::string hex(std::span<const std::uint8_t> b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += kHex[c >> 4];
    s += kHex[c & 0x0F];
  }
  return s;
}

std::vector<std::uint8_t> unhex(const std::string& s) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  }
  return out;
}

void emit(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

struct Driver {
  uv_loop_t* loop = nullptr;
  std::unique_ptr<transport::BleTransport> ble;
  uv_pipe_t in{};
  std::string pending;
  bool stopping = false;
  int exit_code = 0;

  void stop(int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    uv_close(reinterpret_cast<uv_handle_t*>(&in), nullptr);
    ble->stop([] { emit("stopped"); });
  }

  void command(const std::string& line) {
    std::istringstream is(line);
    std::string verb;
    is >> verb;
    if (verb == "send") {
      std::string addr, data;
      is >> addr >> data;
      const auto octets = transport::ble::parse_address(addr);
      if (!octets) return emit("error bad address");
      ble->send(transport::ble::to_peer(*octets), unhex(data));
    } else if (verb == "devices") {
      for (const auto& d : ble->devices()) {
        emit("device " + d.address + " rssi=" + std::to_string(d.rssi) +
             " paired=" + std::to_string(d.paired) + " bonded=" + std::to_string(d.bonded) +
             " trusted=" + std::to_string(d.trusted) + " connected=" + std::to_string(d.connected) +
             " mtu=" + std::to_string(d.mtu) + " errors=" + std::to_string(d.errors) +
             " name=" + d.name);
      }
      emit("end");
    } else if (verb == "allow") {
      std::vector<std::string> list;
      for (std::string a; is >> a;) list.push_back(a);
      const auto error = ble->set_allow(list);
      emit(error.empty() ? "allowed" : "allowed " + error);
    } else if (verb == "stop") {
      stop(0);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"BLE transport test driver"};
  transport::BleConfig cfg;
  std::vector<std::string> passkeys;
  int rssi_min = 0;
  app.add_option("--adapter", cfg.adapter);
  app.add_option("--allow", cfg.allow);
  app.add_option("--passkey", passkeys, "ADDR=NUMBER");
  auto* rssi = app.add_option("--rssi-min", rssi_min);
  CLI11_PARSE(app, argc, argv);
  if (*rssi) cfg.rssi_min = static_cast<std::int16_t>(rssi_min);
  for (const auto& p : passkeys) {
    const auto eq = p.find('=');
    cfg.passkeys[p.substr(0, eq)] = static_cast<std::uint32_t>(std::stoul(p.substr(eq + 1)));
  }

  auto logger = spdlog::stderr_color_mt("ble");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::debug);

  Driver d;
  d.loop = uv_default_loop();
  try {
    d.ble = transport::BleTransport::create(
        d.loop, cfg,
        [](const transport::PeerAddress& from, std::span<const std::uint8_t> bytes) {
          emit("recv " + transport::to_string(from).substr(4) + " " + hex(bytes));
        },
        [&d](const std::string& text) {
          emit("fatal " + text);
          d.stop(3);
        });
  } catch (const std::exception& e) {
    emit(std::string("fatal ") + e.what());
    return 2;
  }

  uv_pipe_init(d.loop, &d.in, 0);
  uv_pipe_open(&d.in, 0);
  d.in.data = &d;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&d.in),
      [](uv_handle_t*, std::size_t size, uv_buf_t* buf) {
        static std::vector<char> storage;
        storage.resize(size);
        *buf = uv_buf_init(storage.data(), static_cast<unsigned>(size));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<Driver*>(s->data);
        if (n < 0) return self->stop(0);
        self->pending.append(buf->base, static_cast<std::size_t>(n));
        for (auto nl = self->pending.find('\n'); nl != std::string::npos;
             nl = self->pending.find('\n')) {
          const auto line = self->pending.substr(0, nl);
          self->pending.erase(0, nl + 1);
          if (!self->stopping) self->command(line);
        }
      });

  d.ble->start();
  emit("started");
  uv_run(d.loop, UV_RUN_DEFAULT);
  const int rc = uv_loop_close(d.loop);
  emit("closed " + std::to_string(rc));
  d.ble.reset();
  return rc == 0 ? d.exit_code : 4;
}
