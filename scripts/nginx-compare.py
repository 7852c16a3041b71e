#!/usr/bin/env python3
"""Run Test::Nginx-style case files (tests/cases/*.t) against the reference nginx.

Mimics tests/common/cases.rs and tests/common/mod.rs:
  * a temp prefix with conf/ (mime.types copied), logs/, html/ (user_files);
  * the same config as `wrap()`, plus `daemon off; master_process off;` in the main context,
    with every `listen 127.0.0.1:0` replaced by one free port (nginx rejects port 0; the
    gateway binds one ephemeral socket per configured address, so one port for all);
  * the request bytes built exactly as cases.rs builds them;
  * the same checks: error_code, response_body, response_body_like, response_headers,
    error_log, no_error_log, access_log, config_error; for `requests`, error_codes and
    bodies (one trimmed body per request);
  * the same test upstreams (tests/common/upstream.rs, reimplemented below), started per
    case only when it names them: `$UP1`..`$UP3` (servers up1..up3), `$DEAD` (a refused
    port) and `$BLACKHOLE` (a full accept queue) become `127.0.0.1:PORT` in every section.

For nginx (any binary whose name does not contain "openclaw"), the config also gets
  * `load_module` lines for Debian's NDK, lua-nginx-module and headers-more at the top (when
    installed);
  * the directory of lua-resty-core (`/usr/share/lua/5.1/?.lua`) appended to every
    `lua_package_path` that lacks it: Debian's lua module refuses to start without
    `resty.core`, which a path with no `;;` would otherwise hide.

Normalised (accepted) differences: the footer of built-in error pages
(`<hr><center>nginx/1.22.1</center>`) is rewritten to OpenClaw's before body checks, and a
`Server` header check that wants OpenClaw's (`Server: ~^openclaw`) or none (`!Server`) but
gets `nginx...` is not a failure but printed as an "accepted difference" note; other `Server`
checks (e.g. an upstream's passed with proxy_pass_header) are compared as usual.

Usage: scripts/nginx-compare.py [--nginx /usr/sbin/nginx] [-k] [-v] FILE.t [FILE.t ...]
  -k keeps the temp prefixes of failing cases; -v prints the response of failing cases.
Exit status: 0 when every case passed.

`--nginx target/debug/openclaw` runs the same cases against OpenClaw through this script,
which is handy to see the raw response (-v) of a case that fails in `cargo test`.
"""

import argparse
import os
import re as stdre
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

try:  # closer to PCRE than `re`
    import regex as re_engine
except ImportError:  # pragma: no cover
    re_engine = stdre

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOOTER_RE = stdre.compile(r"<hr><center>nginx(/[0-9.]+)?</center>")
FOOTER_OURS = "<hr><center>openclaw/0.1.0</center>"


# ---------------------------------------------------------------- parsing (as cases.rs)

class Case:
    def __init__(self, name):
        self.name = name
        self.sections = {}
        self.chomp = []

    def get(self, k):
        return self.sections.get(k)


def parse(text):
    cases = []
    cur = None
    section = None
    buf = []

    def flush():
        nonlocal section
        if cur is not None and section is not None:
            v = "".join(buf).strip("\n")
            if v:
                v += "\n"
            if section in cur.chomp:
                v = v[:-1]
            cur.sections[section] = v
        section = None
        buf.clear()

    for line in text.splitlines():
        if line.startswith("=== "):
            flush()
            if cur is not None:
                cases.append(cur)
            cur = Case(line[4:])
        elif line.startswith("--- "):
            flush()
            h = line[4:]
            inline = None
            if ":" in h:
                n, v = h.split(":", 1)
                if " " not in n:
                    name, inline = n.strip(), v.strip()
            if inline is None:
                words = h.split()
                name = words[0] if words else ""
            words = h.split()
            if len(words) > 1 and words[1] == "chomp" and cur is not None:
                cur.chomp.append(name)
            if inline is not None:
                if cur is not None:
                    cur.sections[name] = inline
            else:
                section = name
        elif section is not None:
            buf.append(line + "\n")
    flush()
    if cur is not None:
        cases.append(cur)
    return cases


def user_files(spec):
    files = []
    cur = None
    for line in spec.splitlines():
        if line.startswith(">>> "):
            if cur:
                files.append(cur)
            cur = ["html/" + line[4:].strip(), ""]
        elif cur is not None:
            cur[1] += line + "\n"
    if cur:
        files.append(cur)
    return files


def wrap(main, http, server):
    return (
        "worker_processes 2;\nerror_log logs/error.log debug;\npid logs/nginx.pid;\n"
        f"{main}\nevents {{ worker_connections 64; }}\nhttp {{\n"
        f"    access_log logs/access.log;\n{http}\n    server {{\n"
        f"        listen 127.0.0.1:0;\n        server_name localhost;\n{server}\n    }}\n}}\n"
    )


def unescape(s):
    return s.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t")


# ---------------------------------------------------------------- client (as client.rs)

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def text(self):
        return self.body.decode("utf-8", "replace")


def parse_resp(buf, head):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("utf-8", "replace").split("\r\n")
    parts = lines[0].split(" ")
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return None
    headers = []
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            headers.append((k.strip(), v.strip()))
    r = Resp(status, headers, b"")
    rest = buf[end + 4:]
    if head or status in (204, 304) or 100 <= status < 200:
        return r
    te = r.header("transfer-encoding")
    if te and te.lower() == "chunked":
        i = 0
        body = b""
        while True:
            le = rest.find(b"\r\n", i)
            if le < 0:
                return None
            try:
                size = int(rest[i:le].split(b";")[0].strip(), 16)
            except ValueError:
                return None
            i = le + 2
            if size == 0:
                break
            if len(rest) < i + size:
                return None
            body += rest[i:i + size]
            i += size + 2
        r.body = body
        return r
    cl = r.header("content-length")
    if cl is not None and cl.isdigit():
        n = int(cl)
        if len(rest) < n:
            return None
        r.body = rest[:n]
        return r
    r.body = rest
    return r


def send_raw(port, data, head):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(data)
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return parse_resp(buf, head)


def build_request(case):
    raw = case.get("raw_request")
    if raw is not None:
        data = unescape(raw.rstrip("\n"))
        return data.encode(), raw.startswith("HEAD ")
    line = (case.get("request") or "GET /\n").strip()
    parts = line.split(" ", 1)
    method = parts[0] or "GET"
    rest = parts[1] if len(parts) > 1 else "/"
    path, proto = rest, "HTTP/1.1"
    if " " in rest:
        p, v = rest.rsplit(" ", 1)
        if v.startswith("HTTP/"):
            path, proto = p, v
    req = f"{method} {path} {proto}\r\n"
    more = case.get("more_headers") or ""
    if "host:" not in more.lower():
        req += "Host: localhost\r\n"
    for h in more.splitlines():
        if h.strip():
            req += h + "\r\n"
    body = (case.get("request_body") or "").encode()
    if body:
        req += f"Content-Length: {len(body)}\r\n"
    req += "Connection: close\r\n\r\n"
    return req.encode() + body, method == "HEAD"


# ---------------------------------------------------------------- test upstreams (as upstream.rs)

class _Reader:
    """Buffered reads from a socket with a 200 ms timeout. As in upstream.rs, a timeout inside
    a request ends the connection; `fill(idle=True)` (between requests, /ws) waits on until
    `stop` is set."""

    def __init__(self, sock, stop):
        self.sock, self.stop, self.buf = sock, stop, b""
        sock.settimeout(0.2)

    def fill(self, idle=False):
        while not self.stop.is_set():
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                if idle:
                    continue
                return False
            except OSError:
                return False
            if not c:
                return False
            self.buf += c
            return True
        return False

    def line(self):
        while b"\n" not in self.buf:
            if not self.fill():
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


class _Req:
    pass


def _read_req(r):
    line = r.line()
    if line is None:
        return None
    req = _Req()
    req.line = line.rstrip()
    parts = req.line.split(b" ")
    if len(parts) < 2:
        return None
    req.method, req.target = parts[0], parts[1]
    version = parts[2] if len(parts) > 2 else b"HTTP/1.0"
    req.headers = []
    while True:
        h = r.line()
        if h is None:
            return None
        h = h.rstrip()
        if not h:
            break
        if b":" not in h:
            return None
        k, v = h.split(b":", 1)
        req.headers.append((k.strip().lower(), v.strip()))

    def get(n):
        return next((v.lower() for k, v in req.headers if k == n), None)

    req.body = b""
    cl, te = get(b"content-length"), get(b"transfer-encoding")
    if cl is not None and cl.isdigit():
        req.body = r.exact(int(cl))
    elif te is not None and b"chunked" in te:
        while True:
            size = r.line()
            try:
                n = int(size.strip().split(b";")[0], 16)
            except (AttributeError, ValueError):
                return None
            chunk = r.exact(n + 2)
            if chunk is None:
                return None
            if n == 0:
                break
            req.body += chunk[:n]
    if req.body is None:
        return None
    conn = get(b"connection") or b""
    req.keepalive = b"close" not in conn if version == b"HTTP/1.1" else b"keep-alive" in conn
    return req


def _query(target, key, default):
    if b"?" not in target:
        return default
    for kv in target.split(b"?", 1)[1].split(b"&"):
        if kv.startswith(key + b"="):
            v = kv[len(key) + 1:]
            return int(v) if v.isdigit() else default
    return default


class Backend:
    """A test upstream named NAME on 127.0.0.1:0; see upstream.rs for the behaviours."""

    HEADERS = (b"Server: backend/1.0\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Pad: avoid\r\n"
               b"X-Accel-Buffering: no\r\nKeep-Alive: timeout=5\r\nX-Custom: 1\r\n")

    def __init__(self, name):
        self.name = name.encode()
        self.stop = threading.Event()
        self.conns = 0
        self.counted = 0
        self.health = 200
        self.lock = threading.Lock()
        self.threads = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.01)
        self.addr = "%s:%d" % self.sock.getsockname()
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                s, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns += 1
            t = threading.Thread(target=self._serve, args=(s, self.conns), daemon=True)
            t.start()
            self.threads.append(t)

    def close(self):
        self.stop.set()
        self.accepter.join()
        for t in self.threads:
            t.join(5)
        self.sock.close()

    def _serve(self, s, conn_no):
        r = _Reader(s, self.stop)
        try:
            while r.buf or r.fill(idle=True):
                req = _read_req(r)
                if req is None or not self._answer(s, r, req, conn_no) or not req.keepalive:
                    return
        except OSError:
            pass
        finally:
            s.close()

    def _wait(self, secs):
        self.stop.wait(secs)

    def _answer(self, w, r, req, conn_no):
        """Answers one request; False when the connection must close."""
        path = req.target.split(b"?")[0]
        ka = req.keepalive

        def send(status, body, extra=b""):
            w.sendall(b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      b"X-Backend: %s\r\n%s%s\r\n"
                      % (status, len(body), self.name, extra, b"" if ka else b"Connection: close\r\n"))
            if req.method != b"HEAD":
                w.sendall(body)
            return True

        if path.startswith(b"/echo"):
            out = req.line + b"\n" + b"".join(k + b": " + v + b"\n" for k, v in req.headers)
            return send(200, out + b"--\n" + req.body)
        if path.startswith(b"/status/"):
            code = path[8:]
            code = int(code) if code.isdigit() and int(code) < 65536 else 500
            return send(code, b"%s %d\n" % (self.name, code))
        if path == b"/hang":
            self._wait(60)
            return False
        if path == b"/close":
            return False
        if path == b"/partial":
            w.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            return False
        if path == b"/badheader":
            w.sendall(b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n")
            return False
        if path == b"/slow":
            self._wait(_query(req.target, b"ms", 1000) / 1000)
            return send(200, b"%s slow\n" % self.name)
        if path == b"/stream":
            n, ms = _query(req.target, b"n", 3), _query(req.target, b"ms", 100)
            w.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Transfer-Encoding: chunked\r\nX-Backend: %s\r\n\r\n" % self.name)
            for i in range(n):
                if i:
                    self._wait(ms / 1000)
                c = b"chunk %d\n" % i
                w.sendall(b"%x\r\n%s\r\n" % (len(c), c))
            w.sendall(b"0\r\n\r\n")
            return True
        if path == b"/ws":
            w.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            while True:  # echo everything, starting with what is already buffered
                if r.buf:
                    w.sendall(r.buf)
                    r.buf = b""
                if not r.fill(idle=True):
                    return False
        if path == b"/redirect":
            a = self.addr.encode()
            extra = b"Location: http://%s/target\r\nRefresh: 5; url=http://%s/other\r\n" % (a, a)
            return send(302, b"moved\n", extra)
        if path == b"/headers":
            return send(200, b"headers\n", self.HEADERS)
        if path == b"/conns":
            return send(200, b"%d\n" % conn_no)
        if path == b"/health":
            return send(self.health, b"%s health %d\n" % (self.name, self.health))
        if path.startswith(b"/count"):
            with self.lock:
                self.counted += 1
                n = self.counted
            extra = b""
            query = req.target.split(b"?", 1)[1] if b"?" in req.target else b""
            for kv in query.split(b"&"):
                if kv.startswith(b"h=") and b":" in kv:
                    k, v = kv[2:].split(b":", 1)
                    extra += k + b": " + v.replace(b"+", b" ") + b"\r\n"
            return send(200, b"%s count %d\n" % (self.name, n), extra)
        return send(200, b"%s %s %s\n" % (self.name, req.method, req.target))


class DeadPort:
    """A loopback port nothing listens on: connecting is refused. It stays bound (not
    listening) until closed, so nothing else takes it meanwhile."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.addr = "%s:%d" % self.sock.getsockname()

    def close(self):
        self.sock.close()


class Blackhole:
    """A listener that never accepts, its queue filled: new handshakes hang."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.addr = "%s:%d" % self.sock.getsockname()
        self.fill = []
        for _ in range(4):
            try:
                self.fill.append(socket.create_connection(self.sock.getsockname(), timeout=0.2))
            except OSError:
                break

    def close(self):
        for c in self.fill:
            c.close()
        self.sock.close()


def with_upstreams(case):
    """Starts the upstreams a case names (`$UP1`..`$UP3`, `$DEAD`, `$BLACKHOLE`); returns
    the case with their addresses substituted in every section, and the servers to close."""
    every = "".join(case.sections.values())
    servers, subst = [], []
    for i in (1, 2, 3):
        if f"$UP{i}" in every:
            servers.append(Backend(f"up{i}"))
            subst.append((f"$UP{i}", servers[-1].addr))
    if "$DEAD" in every:
        servers.append(DeadPort())
        subst.append(("$DEAD", servers[-1].addr))
    if "$BLACKHOLE" in every:
        servers.append(Blackhole())
        subst.append(("$BLACKHOLE", servers[-1].addr))
    c = Case(case.name)
    c.chomp = case.chomp
    for k, v in case.sections.items():
        for tok, addr in subst:
            v = v.replace(tok, addr)
        c.sections[k] = v
    return c, servers


# ---------------------------------------------------------------- running nginx

LUA_MODULES = (
    "/usr/lib/nginx/modules/ndk_http_module.so",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so",
    # headers-more (libnginx-mod-http-headers-more-filter), bundled with OpenResty.
    "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so",
    # set-misc and echo (libnginx-mod-http-set-misc, libnginx-mod-http-echo).
    "/usr/lib/nginx/modules/ngx_http_set_misc_module.so",
    "/usr/lib/nginx/modules/ngx_http_echo_module.so",
)
RESTY_CORE_PATH = "/usr/share/lua/5.1/?.lua"


def nginx_specific(conf, nginx):
    """The additions only the reference nginx needs (see the module docstring)."""
    if "openclaw" in os.path.basename(nginx):
        return conf
    # On the first line, which keeps the line numbers the same (see run_case).
    loads = "".join(f"load_module {m}; " for m in LUA_MODULES if os.path.exists(m))

    def add_core(m):
        path = m.group(2)
        if RESTY_CORE_PATH in path:
            return m.group(0)
        if path and not path.endswith(";"):
            path += ";"
        return f'{m.group(1)}"{path}{RESTY_CORE_PATH};"'

    conf = stdre.sub(r'(lua_package_path\s+)"([^"]*)"', add_core, conf)
    return loads + conf


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def regex(pat):
    r = re_engine.compile(pat)
    return lambda s: r.search(s) is not None


def run_case(case, nginx):
    """Runs one case; returns (mismatches, notes, response(s), prefix)."""
    case, servers = with_upstreams(case)
    try:
        return run_nginx(case, nginx)
    finally:
        for srv in servers:
            srv.close()


def run_nginx(case, nginx):
    errs, notes = [], []
    port = free_port()
    # Same line as the case's first main line: chunk names (`content_by_lua(openclaw.conf:N)`)
    # carry config line numbers, which must match OpenClaw's.
    main = "daemon off; master_process off; " + (case.get("main_config") or "")
    conf = wrap(main, case.get("http_config") or "", case.get("config") or "")
    conf = stdre.sub(r"(listen\s+127\.0\.0\.1):0\b", lambda m: f"{m.group(1)}:{port}", conf)
    conf = nginx_specific(conf, nginx)
    d = tempfile.mkdtemp(prefix="ngxcmp-")
    for sub in ("conf", "logs", "html"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "conf/mime.types"), os.path.join(d, "conf/mime.types"))
    for path, content in user_files(case.get("user_files") or ""):
        f = os.path.join(d, path)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        with open(f, "w") as fh:
            fh.write(content)
    with open(os.path.join(d, "conf/openclaw.conf"), "w") as fh:
        fh.write(conf)
    proc = subprocess.Popen(
        [nginx, "-p", d + "/", "-c", "conf/openclaw.conf"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    pidfile = os.path.join(d, "logs/nginx.pid")
    started = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with open(pidfile) as fh:
                if fh.read().strip().isdigit():
                    started = True
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    resp = None
    if not started:
        try:
            _, stderr = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        stderr = stderr.decode("utf-8", "replace")
        want = case.get("config_error")
        if want is None:
            errs.append(f"start failed: {stderr}")
        elif want.strip() not in stderr:
            errs.append(f"config error: want {want!r}, got {stderr!r}")
        return errs, notes, None, d
    if case.get("config_error") is not None:
        errs.append("expected the start to fail")
    elif case.get("requests"):
        # Several requests in a row (a list of responses, checked by `check`).
        resp = []
        for line in case.get("requests").splitlines():
            if not line.strip():
                continue
            method, _, path = line.strip().partition(" ")
            if not path:
                method, path = "GET", line.strip()
            data = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            resp.append(send_raw(port, data.encode(), method == "HEAD"))
    else:
        data, head = build_request(case)
        resp = send_raw(port, data, head)
        # nginx writes the access log line when the request is freed, which after a
        # lingering close (400, 413, ...) happens once it has seen our FIN; SIGTERM before
        # that loses the line. Give it a bounded chance to finish.
        want = [l.strip() for l in (case.get("access_log") or "").splitlines() if l.strip()]
        deadline = time.monotonic() + 2
        while want and time.monotonic() < deadline:
            try:
                with open(os.path.join(d, "logs/access.log"), errors="replace") as fh:
                    alog = fh.read()
            except FileNotFoundError:
                alog = ""
            if all(w in alog for w in want):
                break
            time.sleep(0.005)
    # A single-process nginx can miss a signal that lands between its flag check and
    # epoll_wait(), then sleep until the next timer: resend until it exits (bounded).
    deadline = time.monotonic() + 10
    while True:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                errs.append("nginx did not stop on SIGTERM within 10 s")
                break
    if case.get("config_error") is not None:
        return errs, notes, None, d
    check(case, resp, d, errs, notes)
    return errs, notes, resp, d


def check(case, resp, d, errs, notes):
    def read(rel):
        try:
            with open(os.path.join(d, rel), encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    def lines(section):
        return [l.strip() for l in (case.get(section) or "").splitlines() if l.strip()]

    if isinstance(resp, list):
        check_many(case, resp, errs)
    elif resp is None:
        if (case.get("error_code") or "").strip() != "none":
            errs.append("no response (connection closed)")
        return
    else:
        check_one(case, resp, errs, notes)
    log = read("logs/error.log")
    for l in lines("error_log"):
        if l not in log:
            errs.append(f"error.log lacks {l!r}")
    if not isinstance(resp, list):  # as cases.rs: not checked for `requests`
        for l in lines("no_error_log"):
            if l in log:
                hit = next(x for x in log.splitlines() if l in x)
                errs.append(f"error.log has {l!r}: {hit}")
    alog = read("logs/access.log")
    for l in lines("access_log"):
        if l not in alog:
            errs.append(f"access.log lacks {l!r}; it has: {alog!r}")
    for l in lines("access_log_like"):
        if not any(stdre.search(l, x) for x in alog.splitlines()):
            errs.append(f"no access.log line matches {l!r}; it has: {alog!r}")


def check_many(case, resps, errs):
    """`requests` mode: `error_codes` (when given) and `bodies` (trimmed, when given)."""
    got = [str(r.status) if r else "none" for r in resps]
    want = (case.get("error_codes") or "").split()
    if want and got != want:
        errs.append(f"statuses: want {want}, got {got}")
    if case.get("bodies") is not None:
        got = [r.text().strip() if r else "" for r in resps]
        want = [l.strip() for l in case.get("bodies").splitlines()]
        if got != want:
            errs.append(f"bodies: want {want}, got {got}")


def check_one(case, resp, errs, notes):
    body = FOOTER_RE.sub(FOOTER_OURS, resp.text())
    code = case.get("error_code")
    if code is not None and code.strip() != str(resp.status):
        errs.append(f"status: want {code.strip()}, got {resp.status}")
    want = case.get("response_body")
    if want is not None and want != body:
        errs.append(f"body: want {want!r}, got {body!r}")
    like = case.get("response_body_like")
    if like is not None and not regex(like.strip())(body):
        errs.append(f"body {body!r} does not match {like.strip()!r}")
    for line in (case.get("response_headers") or "").splitlines():
        if not line.strip():
            continue
        if line.startswith("!"):
            name = line[1:].strip()
            v = resp.header(name)
            if v is None:
                continue
            if name.lower() == "server" and v.startswith("nginx"):  # nginx always sends one
                notes.append(f"accepted difference: Server {v!r}, the case wants none")
            else:
                errs.append(f"header {name} should be absent, got {v!r}")
            continue
        name, _, w = line.partition(":")
        name, w = name.strip(), w.strip()
        got = resp.header(name)
        if got is None:
            errs.append(f"header {name} missing")
            continue
        # With a repeated header, any of its values may match (as tests/common/cases.rs).
        values = [v for k, v in resp.headers if k.lower() == name.lower()]
        ok = any(regex(w[1:].strip())(v) if w.startswith("~") else v == w for v in values)
        if ok:
            continue
        if name.lower() == "server" and "openclaw" in w and got.startswith("nginx"):
            notes.append(f"accepted difference: Server {got!r}, the case wants {w!r}")
        else:
            errs.append(f"header {name}: want {w!r}, got {got!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("-k", "--keep", action="store_true", help="keep prefixes of failures")
    ap.add_argument("-v", "--verbose", action="store_true", help="print failing responses")
    ap.add_argument("-f", "--filter", help="only cases whose name contains this")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    total = failed = 0
    for path in a.files:
        with open(path) as fh:
            cases = parse(fh.read())
        for c in cases:
            if a.filter and a.filter not in c.name:
                continue
            total += 1
            errs, notes, resp, d = run_case(c, a.nginx)
            rel = os.path.relpath(path, ROOT) if path.startswith("/") else path
            failed += bool(errs)
            print(f"{'FAIL' if errs else 'PASS'} {rel}: {c.name}")
            for e in errs + notes:
                print(f"    {e}")
            if errs and a.verbose:
                for r in resp if isinstance(resp, list) else [resp]:
                    if r is not None:
                        print(f"    -> {r.status} {r.headers}")
                        print(f"    -> body {r.text()!r}")
            if errs and a.keep:
                print(f"    prefix kept: {d}")
            else:
                shutil.rmtree(d, ignore_errors=True)
    print(f"{total - failed}/{total} passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
