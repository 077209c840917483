#include "processes.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace bench {

namespace {
// Children to kill if we are interrupted (read by the signal handler).
constexpr int kMaxChildren = 8;
volatile sig_atomic_t children[kMaxChildren] = {};

void on_terminate(int sig) {
  for (const auto pid : children) {
    if (pid > 0) kill(static_cast<pid_t>(pid), SIGKILL);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void remember(pid_t pid, pid_t old) {
  for (auto& c : children) {
    if (c == old) {
      c = pid;
      return;
    }
  }
}
}  // namespace

void stop_children_on_signals() {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, on_terminate);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t pid = spawn_child(argv, log_path);
  if (pid > 0) remember(pid, 0);
  return pid;
}

pid_t spawn_child(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls from here on.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
  }
  execv(args[0], args.data());
  _exit(127);
}

bool alive(pid_t pid) {
  int status = 0;
  return pid > 0 && waitpid(pid, &status, WNOHANG) == 0;
}

void stop(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  remember(0, pid);
  kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

std::uint16_t free_port(int type) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool wait_tcp(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::uint64_t raise_fd_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

ProcStats read_proc(pid_t pid) {
  ProcStats s;
  const std::string base = "/proc/" + std::to_string(pid);
  std::istringstream status(read_file(base + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stoull(line.substr(6));
    if (line.rfind("Threads:", 0) == 0)
      s.threads = static_cast<unsigned>(std::stoul(line.substr(8)));
  }
  const std::string text = read_file(base + "/stat");
  // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
  const auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return s;
  std::istringstream rest(text.substr(close_paren + 2));
  std::array<std::string, 13> skip_and_times;
  for (auto& f : skip_and_times) rest >> f;  // fields 3..15
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(skip_and_times[11]) + std::stod(skip_and_times[12])) / ticks;
  // Nanoseconds on a CPU per thread (schedstat) when the kernel has them: the clock ticks of
  // /proc/PID/stat (10 ms) are too coarse for a CPU figure over a 1-2 s step.
  std::uint64_t ns = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
    std::istringstream sched(read_file(task.path().string() + "/schedstat"));
    std::uint64_t on_cpu = 0;
    if (sched >> on_cpu) ns += on_cpu;
  }
  if (ns > 0) s.cpu_s = static_cast<double>(ns) / 1e9;
  s.ok = s.rss_kb > 0;
  return s;
}

std::uint64_t udp_receive_buffer_errors() {
  std::istringstream f(read_file("/proc/net/snmp"));
  std::string header;
  std::string values;
  while (std::getline(f, header)) {
    if (header.rfind("Udp:", 0) != 0) continue;
    std::getline(f, values);
    std::istringstream h(header);
    std::istringstream v(values);
    std::string name;
    std::string value;
    while (h >> name && v >> value) {
      if (name == "RcvbufErrors") return std::stoull(value);
    }
    break;
  }
  return 0;
}

std::string make_temp_dir() {
  std::string tmpl = "/tmp/mqttsn-bench.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

std::string read_file(const std::string& path) {
  std::string text;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  std::array<char, 4096> buf{};
  for (ssize_t n; (n = read(fd, buf.data(), buf.size())) > 0;)
    text.append(buf.data(), static_cast<std::size_t>(n));
  close(fd);
  return text;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return static_cast<bool>(f);
}

}  // namespace bench
