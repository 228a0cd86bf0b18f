"""The connection, calls and service stubs (see the package docstring)."""
import importlib
import itertools
import os
import socket
import ssl
import struct
import sys
import threading

# The generated messages live beside this package (clients/python/medicare/v1).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from medicare.v1 import rpc_pb2  # noqa: E402

#: The largest frame the client sends or accepts (the servers' default).
MAX_FRAME_BYTES = 4 << 20


class RPCError(Exception):
    """A call's non-OK status: `code` is the status name in snake case (`invalid_argument`,
    `permission_denied`, ...: gRPC's codes), `number` its number, `message` what was wrong,
    naming the field first (`claim.lines[2].quantity: ...`)."""

    def __init__(self, number, message):
        name = rpc_pb2.StatusCode.Name(number) if number in rpc_pb2.StatusCode.values() else "STATUS_CODE_UNKNOWN"
        self.number = number
        self.code = name[len("STATUS_CODE_"):].lower()
        self.message = message
        super().__init__(f"{self.code}: {message}")


class Client:
    """One mutual-TLS connection to a service (normally the gateway), calls made one at a time
    (a lock serialises threads). `certs` is a folder holding `ca.pem` and `NAME.pem`/`NAME.key`
    (what `medicare-certs` writes); `server_name` is checked against the server's certificate.
    A connection the server closes (GOAWAY on shutdown) is reopened for the next call."""

    def __init__(self, host="127.0.0.1", port=7100, certs="certs", name="operator", server_name="localhost", timeout=30.0):
        self.host, self.port, self.server_name, self.timeout = host, port, server_name, timeout
        self.context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(certs, "ca.pem"))
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(os.path.join(certs, f"{name}.pem"), os.path.join(certs, f"{name}.key"))
        self.sock = None
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    @classmethod
    def over(cls, sock, timeout=30.0):
        """A client on an already connected socket (tests, or TLS set up elsewhere)."""
        client = cls.__new__(cls)
        client.host, client.port, client.server_name, client.timeout = None, None, None, timeout
        client.context, client.sock, client.ids, client.lock = None, sock, itertools.count(1), threading.Lock()
        return client

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection (the next call opens a new one)."""
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _connect(self):
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=self.server_name)

    def call(self, method, request, response_type, idempotency_key=None, trace_id=None, timeout=None):
        """Calls `method` ("medicare.v1.Gateway/Settle") with `request` (a message) and returns
        the answer as `response_type`. `idempotency_key` is required by Settle and Reverse: the
        same key and request return the stored answer. `timeout` (seconds) is the call's
        deadline, sent to the server. Raises RPCError for a non-OK status, OSError or
        ssl.SSLError when the connection fails."""
        metadata = []
        if idempotency_key:
            metadata.append(rpc_pb2.MetadataEntry(key="idempotency-key", value=idempotency_key))
        if trace_id:
            metadata.append(rpc_pb2.MetadataEntry(key="trace-id", value=trace_id))
        seconds = timeout if timeout is not None else self.timeout
        with self.lock:
            call_id = next(self.ids)
            frame = rpc_pb2.Frame(call_id=call_id, kind=rpc_pb2.FRAME_KIND_REQUEST, method=method,
                                  timeout_micros=int(seconds * 1_000_000) if seconds else 0, metadata=metadata,
                                  payload=request.SerializeToString())
            try:
                for attempt in (1, 2):
                    if self.sock is None:
                        self._connect()
                    # The socket waits a little longer than the server, which answers
                    # DEADLINE_EXCEEDED itself at the deadline.
                    self.sock.settimeout(seconds + 5 if seconds else None)
                    try:
                        self._send(frame)
                    except (ConnectionError, ssl.SSLEOFError):
                        # Not sent (a connection the server had closed): safe to send again.
                        self.close()
                        if attempt == 2 or self.host is None:
                            raise
                        continue
                    # Sent: never sent again, the server may have acted on it.
                    answer = self._receive_answer(call_id)
                    break
            except RPCError:
                raise
            except BaseException:
                # A timeout or a broken connection can leave half a frame unread.
                self.close()
                raise
        if answer.status_code != rpc_pb2.STATUS_CODE_OK:
            raise RPCError(answer.status_code, answer.status_message)
        response = response_type()
        response.ParseFromString(answer.payload)
        return response

    def service(self, name):
        """The stub of service `name` ("Gateway", "Registry", "Settlement", "Supervision", ...):
        a method per RPC, named as in the proto, taking the request message and the call's
        keyword options (idempotency_key, trace_id, timeout)."""
        return ServiceStub(self, name)

    def _send(self, frame):
        body = frame.SerializeToString()
        if len(body) > MAX_FRAME_BYTES:
            raise ValueError(f"the request is {len(body)} bytes; at most {MAX_FRAME_BYTES}")
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def _receive_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("the server closed the connection")
            out += chunk
        return bytes(out)

    def _receive_answer(self, call_id):
        while True:
            (length,) = struct.unpack(">I", self._receive_exact(4))
            if length > MAX_FRAME_BYTES:
                raise RPCError(rpc_pb2.STATUS_CODE_RESOURCE_EXHAUSTED, f"a {length}-byte frame from the server")
            frame = rpc_pb2.Frame()
            frame.ParseFromString(self._receive_exact(length))
            if frame.kind == rpc_pb2.FRAME_KIND_RESPONSE and frame.call_id == call_id:
                return frame
            if frame.kind == rpc_pb2.FRAME_KIND_GOAWAY and frame.status_code != rpc_pb2.STATUS_CODE_OK:
                raise RPCError(frame.status_code, frame.status_message)
            if frame.kind == rpc_pb2.FRAME_KIND_PING:
                self._send(rpc_pb2.Frame(call_id=frame.call_id, kind=rpc_pb2.FRAME_KIND_PONG))
            # A GOAWAY that still answers this call, a PONG: keep reading.


class ServiceStub:
    """The methods of one service, found in the generated descriptors (so a method added to
    the protos is here once they are regenerated)."""

    def __init__(self, client, name, package="medicare.v1"):
        self.client, self.name = client, name
        self.descriptor = None
        folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *package.split("."))
        for file in sorted(os.listdir(folder)):
            if file.endswith("_pb2.py"):
                module = importlib.import_module(f"{package}.{file[:-3]}")
                if name in module.DESCRIPTOR.services_by_name:
                    self.descriptor = module.DESCRIPTOR.services_by_name[name]
        if self.descriptor is None:
            raise ValueError(f"no service {name} in {package}")

    @staticmethod
    def message_class(descriptor):
        module = importlib.import_module(descriptor.file.name[:-len(".proto")].replace("/", ".") + "_pb2")
        return getattr(module, descriptor.name)

    def __getattr__(self, method):
        found = self.descriptor.methods_by_name.get(method) if self.descriptor else None
        if found is None:
            raise AttributeError(f"{self.name} has no method {method}")
        response_type = self.message_class(found.output_type)
        full = f"{self.descriptor.full_name}/{method}"

        def invoke(request, **options):
            return self.client.call(full, request, response_type, **options)

        invoke.__name__ = method
        invoke.request_type = self.message_class(found.input_type)
        return invoke
