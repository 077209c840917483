"""DTLS sensor links for the tests: `openssl s_client -dtls1_2` (an independent DTLS stack) carrying
raw MQTT-SN, one message per write so one per DTLS record; and a UDP relay that drops chosen
datagrams."""
import os
import select
import socket
import subprocess
import threading
import time


def _message_length(buf):
    """Length of the MQTT-SN message at the front of buf, or None if not all of it is known."""
    if not buf:
        return None
    if buf[0] == 0x01:
        return (buf[1] << 8 | buf[2]) if len(buf) >= 3 else None
    return buf[0]


class SClientLink:
    """A DTLS 1.2 client: openssl s_client with PSK and/or a certificate. send() is one record."""

    def __init__(self, port, psk_identity=None, psk=None, cert=None, key=None, cafile=None,
                 host="127.0.0.1"):
        args = ["openssl", "s_client", "-dtls1_2", "-quiet", "-connect", "%s:%d" % (host, port)]
        if psk_identity is not None:
            args += ["-psk_identity", psk_identity, "-psk", psk]
            if not cert:
                args += ["-cipher", "PSK"]  # a PSK sensor: else a server certificate suite may win
        if cert:
            args += ["-cert", cert, "-key", key]
        if cafile:
            args += ["-CAfile", cafile]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.buf = b""

    def send(self, raw):
        try:
            self.proc.stdin.write(raw)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        time.sleep(0.05)  # s_client reads stdin per write: keep writes apart, one record each

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            n = _message_length(self.buf)
            if n is not None and n > 0 and len(self.buf) >= n:
                msg, self.buf = self.buf[:n], self.buf[n:]
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None  # s_client ended (handshake failed or closed)
            self.buf += chunk

    def exited(self, timeout):
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stderr_text(self):
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass

    stop = close


def is_handshake(data, msg_type):
    """A DTLS record whose first handshake message has this type (2 ServerHello, 3 HVR...)."""
    return len(data) > 13 and data[0] == 22 and data[13] == msg_type


class DroppingRelay:
    """UDP relay client <-> gateway on loopback; drop(direction, data) -> True drops a datagram."""

    def __init__(self, gw_port, drop, source="127.0.0.1"):
        self.gw = ("127.0.0.1", gw_port)
        self.drop = drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.bind((source, 0))  # the address the gateway sees
        self.client = None
        self.dropped = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock, self.up], [], [], 0.1)
            for s in r:
                data, addr = s.recvfrom(65535)
                if s is self.sock:
                    self.client = addr
                    if self.drop("up", data):
                        self.dropped.append(("up", data))
                    else:
                        self.up.sendto(data, self.gw)
                elif self.client is not None:
                    if self.drop("down", data):
                        self.dropped.append(("down", data))
                    else:
                        self.sock.sendto(data, self.client)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()
        self.up.close()

    stop = close
