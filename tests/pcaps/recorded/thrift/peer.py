#!/usr/bin/python3
"""Server and client of the recorded Thrift captures (see record-thrift.sh).

    peer.py GEN_DIR server PORT TRANSPORT PROTOCOL
    peer.py GEN_DIR client PORT TRANSPORT PROTOCOL SCENARIO

TRANSPORT: buffered (unframed) | framed.  PROTOCOL: binary | binary-old
(non-strict writes) | compact | multiplexed (binary, Calculator and Greeter
behind one TMultiplexedProcessor).  The client prints one line per call it
sends ("CALL method seqid kind") and a final "TOTAL calls=N oneway=N
exceptions=N" line, which record-thrift.sh copies into MANIFEST.tsv.
"""
import sys

sys.path.insert(0, sys.argv[1])

from tapbeat_test import Calculator, Greeter  # noqa: E402  (generated)
from tapbeat_test.ttypes import InvalidOperation, Item, Operation, Work  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TMultiplexedProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.Thrift import TApplicationException, TMessageType  # noqa: E402
from thrift.TMultiplexedProcessor import TMultiplexedProcessor  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402


class OldBinaryProtocol(TBinaryProtocol.TBinaryProtocol):
    """Non-strict TBinaryProtocol. python3-thrift 0.17 returns the method name
    of a non-strict message as bytes (and then fails to answer it): decode it."""

    def readMessageBegin(self):
        name, mtype, seqid = super().readMessageBegin()
        return (name.decode() if isinstance(name, bytes) else name), mtype, seqid


class OldBinaryProtocolFactory:
    def getProtocol(self, trans):
        return OldBinaryProtocol(trans, strictRead=False, strictWrite=False)


def transport_factory(kind):
    return TTransport.TFramedTransportFactory() if kind == "framed" else TTransport.TBufferedTransportFactory()


def protocol_factory(kind):
    if kind == "compact":
        return TCompactProtocol.TCompactProtocolFactory()
    if kind == "binary-old":
        return OldBinaryProtocolFactory()
    return TBinaryProtocol.TBinaryProtocolFactory()


class CalculatorHandler:
    def ping(self):
        pass

    def add(self, a, b):
        return a + b

    add16 = add
    add64 = add

    def add_doubles(self, a, b):
        return a + b

    def echo_bool(self, b):
        return b

    echo_byte = echo_string = echo_binary = echo_list = echo_set = echo_map = echo_item = echo_bool

    def find(self, query, limit):
        return [Item(id=i, name=f"{query}-{i}", tags=["t"], scores={"s": i / 2}, active=i % 2 == 0) for i in range(limit)]

    def calculate(self, logid, w):
        if w.op == Operation.DIVIDE:
            if w.num2 == 0:
                raise InvalidOperation(whatOp=w.op, why="Cannot divide by 0")
            return w.num1 // w.num2
        return w.num1 + w.num2

    def zip(self, delay):
        pass


class GreeterHandler:
    def hello(self, name):
        return "hello " + name


def serve(port, transport, protocol):
    if protocol == "multiplexed":
        processor = TMultiplexedProcessor()
        processor.registerProcessor("Calculator", Calculator.Processor(CalculatorHandler()))
        processor.registerProcessor("Greeter", Greeter.Processor(GreeterHandler()))
        protocol = "binary"
    else:
        processor = Calculator.Processor(CalculatorHandler())
    sock = TSocket.TServerSocket(host="127.0.0.1", port=port)
    server = TServer.TSimpleServer(processor, sock, transport_factory(transport), protocol_factory(protocol))
    print("serving", flush=True)
    server.serve()


class Counter:
    def __init__(self):
        self.calls = self.oneway = self.exceptions = 0

    def log(self, method, seqid, kind="call"):
        self.calls += 1
        self.oneway += kind == "oneway"
        self.exceptions += kind == "exception"
        print(f"CALL {method} {seqid} {kind}", flush=True)


def unknown_method(proto, n):
    """A call the server does not know: it answers with a TApplicationException."""
    proto.writeMessageBegin("no_such_method", TMessageType.CALL, 99)
    proto.writeStructBegin("no_such_method_args")
    proto.writeFieldStop()
    proto.writeStructEnd()
    proto.writeMessageEnd()
    proto.trans.flush()
    _, mtype, seqid = proto.readMessageBegin()
    x = TApplicationException()
    x.read(proto)
    proto.readMessageEnd()
    assert mtype == TMessageType.EXCEPTION and seqid == 99, (mtype, seqid)
    n.log("no_such_method", 99, "exception")


def run_client(port, transport, protocol, scenario):
    sock = TSocket.TSocket("127.0.0.1", port)
    trans = transport_factory(transport).getTransport(sock)
    base = protocol_factory("binary" if protocol == "multiplexed" else protocol).getProtocol(trans)
    if protocol == "multiplexed":
        calc = Calculator.Client(TMultiplexedProtocol.TMultiplexedProtocol(base, "Calculator"))
        greeter = Greeter.Client(TMultiplexedProtocol.TMultiplexedProtocol(base, "Greeter"))
    else:
        calc = Calculator.Client(base)
        greeter = None
    trans.open()
    n = Counter()

    def call(method, *args, kind="call"):
        seqid = calc._seqid
        try:
            r = getattr(calc, method)(*args)
        except InvalidOperation:
            assert kind == "exception", method
            r = "InvalidOperation"
        n.log(method, seqid, kind)
        return r

    if scenario == "all":
        call("ping")
        assert call("add", 1, 1) == 2
        assert call("add", -5, 3) == -2
        assert call("add16", 1, 1) == 2
        assert call("add64", 1 << 40, 1) == (1 << 40) + 1
        call("add_doubles", 1.25, 2.5)
        call("echo_bool", True)
        call("echo_byte", -7)
        call("echo_string", "hello thrift")
        call("echo_string", "quote \" and ünïcode ✓")
        call("echo_string", "x" * 300)
        call("echo_binary", b"\x00\x01\xfe\xff")
        call("echo_list", list(range(1, 21)))
        call("echo_set", {"a"})
        call("echo_map", {"x": 1})
        call("echo_item", Item(id=7, name="seven", tags=["a", "b"], scores={"m": 0.5}, blob=b"\xab\xcd", active=True))
        call("find", "q", 3)
        call("calculate", 1, Work(num1=1, num2=0, op=Operation.DIVIDE), kind="exception")
        assert call("calculate", 2, Work(num1=15, num2=10, op=Operation.ADD)) == 25
        call("zip", 0, kind="oneway")
        call("ping")
        if greeter is not None:
            seqid = greeter._seqid
            assert greeter.hello("tapbeat") == "hello tapbeat"
            n.log("hello", seqid)
        else:
            unknown_method(base, n)
        # A message larger than a stream block and many segments of lo.
        assert call("echo_string", "0123456789abcdef" * 2048) == "0123456789abcdef" * 2048
        call("ping")
    elif scenario == "pipelined":
        # Three calls written before any reply is read, with distinct sequence
        # ids (the generated client would use 0 for all); then the replies.
        for i, (a, b) in enumerate([(1, 2), (3, 4), (5, 6)], start=1):
            calc._seqid = i
            calc.send_add(a, b)
            n.log("add", i)
        for want in (3, 7, 11):
            assert calc.recv_add() == want
        calc._seqid = 0
        call("ping")
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    trans.close()
    print(f"TOTAL calls={n.calls} oneway={n.oneway} exceptions={n.exceptions}", flush=True)


if __name__ == "__main__":
    role, port, transport, protocol = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if role == "server":
        serve(port, transport, protocol)
    else:
        run_client(port, transport, protocol, sys.argv[6])
