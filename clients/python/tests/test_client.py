"""The client's framing, stubs and errors against a peer on a socket pair (no server needed):
python3 -m unittest discover clients/python/tests"""
import os
import socket
import struct
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from medicare_client import Client, RPCError  # noqa: E402
from medicare.v1 import gateway_pb2, rpc_pb2, settlement_pb2  # noqa: E402


def read_frame(sock):
    def exact(n):
        out = b""
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out
    (length,) = struct.unpack(">I", exact(4))
    frame = rpc_pb2.Frame()
    frame.ParseFromString(exact(length))
    return frame


def write_frame(sock, frame):
    body = frame.SerializeToString()
    sock.sendall(struct.pack(">I", len(body)) + body)


class ClientTests(unittest.TestCase):
    def serve(self, answer):
        """A peer that reads one request, records it, and answers with `answer(request)`."""
        ours, theirs = socket.socketpair()
        seen = {}

        def run():
            request = read_frame(theirs)
            seen["request"] = request
            for frame in answer(request):
                write_frame(theirs, frame)
                if frame.kind == rpc_pb2.FRAME_KIND_PING:
                    seen["pong"] = read_frame(theirs)
            theirs.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return Client.over(ours), seen, thread

    def test_a_call_is_one_request_frame_with_its_key_and_deadline(self):
        result = settlement_pb2.SettlementResult(setl_id="S1", medfee_sumamt=1000)

        def answer(request):
            # A ping first: the client answers it and keeps waiting for its response.
            yield rpc_pb2.Frame(kind=rpc_pb2.FRAME_KIND_PING, call_id=99)
            yield rpc_pb2.Frame(kind=rpc_pb2.FRAME_KIND_RESPONSE, call_id=request.call_id,
                                payload=gateway_pb2.GatewaySettleResponse(settlement=result).SerializeToString())

        client, seen, thread = self.serve(answer)
        claim = settlement_pb2.Claim(mdtrt_id="MD1", psn_no="P7", fixmedins_code="H33080200101")
        response = client.service("Gateway").Settle(gateway_pb2.GatewaySettleRequest(claim=claim), idempotency_key="MD1", timeout=5)
        thread.join(2)
        client.close()
        self.assertEqual((seen["pong"].kind, seen["pong"].call_id), (rpc_pb2.FRAME_KIND_PONG, 99))
        request = seen["request"]
        self.assertEqual(request.kind, rpc_pb2.FRAME_KIND_REQUEST)
        self.assertEqual(request.method, "medicare.v1.Gateway/Settle")
        self.assertEqual({e.key: e.value for e in request.metadata}, {"idempotency-key": "MD1"})
        self.assertEqual(request.timeout_micros, 5_000_000)
        sent = gateway_pb2.GatewaySettleRequest()
        sent.ParseFromString(request.payload)
        self.assertEqual(sent.claim.mdtrt_id, "MD1")
        self.assertEqual(response.settlement.setl_id, "S1")
        self.assertEqual(response.settlement.medfee_sumamt, 1000)

    def test_a_status_is_an_rpc_error_with_its_name(self):
        def answer(request):
            yield rpc_pb2.Frame(kind=rpc_pb2.FRAME_KIND_RESPONSE, call_id=request.call_id,
                                status_code=rpc_pb2.STATUS_CODE_PERMISSION_DENIED, status_message="clinic may not read H33080200102")

        client, _, thread = self.serve(answer)
        with self.assertRaises(RPCError) as raised:
            client.service("Gateway").GetInstitutionProfile(gateway_pb2.InstitutionProfileRequest(fixmedins_code="H33080200102"))
        thread.join(2)
        client.close()
        self.assertEqual(raised.exception.code, "permission_denied")
        self.assertEqual(raised.exception.number, 7)
        self.assertEqual(raised.exception.message, "clinic may not read H33080200102")

    def test_stubs_know_every_method_from_the_descriptors(self):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        client = Client.over(ours)
        settle = client.service("Gateway").Settle
        self.assertIs(settle.request_type, gateway_pb2.GatewaySettleRequest)
        with self.assertRaises(AttributeError):
            client.service("Gateway").NoSuchMethod
        with self.assertRaises(ValueError):
            client.service("NoSuchService")


if __name__ == "__main__":
    unittest.main()
