"""A private RabbitMQ node for tests: its own epmd on a free loopback port, MQTT plugin enabled
offline through an enabled_plugins file, data and logs under the given directory. start() and
stop() work on the processes this object started, by PID."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import free_port, wait_until  # noqa: E402

RABBIT_BIN = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def available():
    return os.access(RABBIT_BIN, os.X_OK) and os.access("/usr/bin/epmd", os.X_OK)


class RabbitNode:
    def __init__(self, workdir):
        self.dir = workdir
        self.port = free_port()  # MQTT
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = "mqttsn%d@localhost" % self.port
        for sub in ("mnesia", "log", "home"):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        with open(os.path.join(workdir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        with open(os.path.join(workdir, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.1 = 127.0.0.1:%d\n" % self.amqp_port +
                    "mqtt.listeners.tcp.1 = 127.0.0.1:%d\n" % self.port +
                    "mqtt.allow_anonymous = true\n"
                    "loopback_users = none\n"
                    "management_agent.disable_metrics_collector = true\n"
                    "log.console = false\n"
                    "log.file.level = info\n")
        self.env = dict(os.environ)
        self.env.update({
            "HOME": os.path.join(workdir, "home"),  # the Erlang cookie goes here
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(workdir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(workdir, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(workdir, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(workdir, "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(workdir, "advanced.config"),
            "RABBITMQ_PID_FILE": os.path.join(workdir, "rabbit.pid"),
            "RABBITMQ_LOGS": os.path.join(workdir, "log", "rabbit.log"),
            "RABBITMQ_ALLOW_INPUT": "",
        })
        self.epmd = None
        self.proc = None
        self.start_seconds = None
        self.out = os.path.join(workdir, "node.out")

    @property
    def uri(self):
        return "tcp://127.0.0.1:%d" % self.port

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def start(self, timeout=60):
        if self.epmd is None or self.epmd.poll() is not None:
            self.epmd = subprocess.Popen(["/usr/bin/epmd", "-port", str(self.epmd_port),
                                          "-address", "127.0.0.1"], env=self.env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        self._outf = open(self.out, "ab")
        # Its own process group: stop() ends the node and the helpers it started, nothing else.
        self.proc = subprocess.Popen([RABBIT_BIN], env=self.env, stdout=self._outf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("rabbitmq exited: " + self.log_text()[-3000:])
            return self._listening()
        if not wait_until(up, timeout, interval=0.1):
            raise RuntimeError("rabbitmq MQTT listener not up in %d s: %s"
                               % (timeout, self.log_text()[-3000:]))
        self.start_seconds = time.monotonic() - t0
        return self

    def ctl(self, *args):
        """rabbitmqctl against this node (same cookie, epmd and node name)."""
        return subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=60, check=True)

    def rss_kib(self):
        """Resident memory of the node's processes (beam and its helpers), from /proc."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.proc.pid:
                    continue
                with open("/proc/%s/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except (OSError, ValueError):
                pass
        return total

    def log_text(self):
        text = ""
        for p in (self.out, os.path.join(self.dir, "log", "rabbit.log")):
            try:
                with open(p, "rb") as f:
                    text += f.read().decode(errors="replace")
            except OSError:
                pass
        return text

    def stop(self, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            try:  # helpers (erl_child_setup, inet_gethost) left in the group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._outf.close()
        wait_until(lambda: not self._listening(), 10)

    def close(self):
        self.stop()
        if self.epmd is not None and self.epmd.poll() is None:
            self.epmd.terminate()
            self.epmd.wait(5)


def measure(connections=200):
    """Start time, memory idle, and memory per MQTT connection (paho clients, clean session)."""
    import tempfile
    import paho.mqtt.client as mqtt
    n = RabbitNode(tempfile.mkdtemp(prefix="rmq-"))
    clients = []
    try:
        n.start()
        time.sleep(3)
        idle = n.rss_kib()
        t0 = time.monotonic()
        for i in range(connections):
            c = mqtt.Client("measure-%d" % i)
            c.connect("127.0.0.1", n.port, keepalive=600)
            c.loop_start()
            clients.append(c)
        wait_until(lambda: all(c.is_connected() for c in clients), 60)
        took = time.monotonic() - t0
        time.sleep(3)
        busy = n.rss_kib()
        print("rabbitmq 3.10: MQTT listener up %.1f s after start; RSS idle %.0f MiB; %d MQTT "
              "connections in %.1f s (%.0f/s, one client after another); RSS then %.0f MiB: "
              "%.0f KiB per connection (loss: none, all connected)"
              % (n.start_seconds, idle / 1024.0, connections, took, connections / took,
                 busy / 1024.0, (busy - idle) / connections))
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
        n.close()


if __name__ == "__main__":
    # Figures for docs/brokers.md: /usr/bin/python3 tests/rabbitmq/rabbit.py [connections]
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
