#!/usr/bin/env python3
"""Writes the seeds of fuzz/verbs_wire_fuzz.cc into fuzz/corpus/verbs_wire/:
valid and malformed connect records and remote keys. Layouts follow
transports/verbs/wire.h (little endian)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "verbs_wire")
MAGIC = 0x5B1E7E55
NRANKS, NQ, ME = 4, 2, 1
GID = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 2])


def record(magic=MAGIC, qps=NQ, mtu=3, qpn=0x11, psn=0x123456, drop=0):
    head = struct.pack("<IIHBBI16s", magic, qps, 0, mtu, 2, 0, GID)
    body = b"".join(struct.pack("<II", qpn + i, psn) for i in range(NRANKS * NQ))
    data = head + body
    return bytes([0, NRANKS - 1, NQ - 1, ME]) + data[: len(data) - drop]


def key(length=16, addr=0x7F0000001000, size=4096, rkey=0x1234, offset=0, nbytes=64, wire_addr=None):
    wire = struct.pack("<QI4x", addr if wire_addr is None else wire_addr, rkey)
    return bytes([1]) + struct.pack("<QQIQQ", offset, nbytes, length, addr, size) + wire


SEEDS = {
    "record": record(),
    "record_bad_magic": record(magic=0xDEADBEEF),
    "record_other_qps": record(qps=3),
    "record_bad_mtu": record(mtu=9),
    "record_qpn_25_bits": record(qpn=0x1000000),
    "record_truncated": record(drop=5),
    "key": key(),
    "key_write_at_end": key(offset=4032, nbytes=64),
    "key_from_another_transport": key(length=40),
    "key_wrapping": key(addr=0xFFFFFFFFFFFFF000, size=0x2000),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
