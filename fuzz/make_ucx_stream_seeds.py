#!/usr/bin/env python3
"""Writes the message-stream seeds of fuzz/ucx_wire_fuzz.cc (first byte 0x80
or more) into fuzz/corpus/ucx_wire/stream_*: in order, reordered, beyond the
reorder bound, duplicates, small writes inside and outside the registered
buffer. Layout: transports/ucx/wire.h (little endian)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ucx_wire")
MAGIC = 0x5C0A1CC5
WRITE, CTRL, BYE, INLINE = 2, 3, 4, 6


def msg(seq, kind, payload=b"", addr=0, imm=0):
    h = struct.pack("<IiIIIB3xQ", MAGIC, 1, seq, imm, len(payload), kind, addr)
    m = h + payload
    return bytes([len(m)]) + m


def stream(bound, *msgs):
    return bytes([0x80, bound]) + b"".join(msgs)


SEEDS = {
    "stream_in_order": stream(
        4,
        msg(0, WRITE, imm=7),
        msg(1, CTRL, b"ctrl-msg"),
        msg(2, INLINE, bytes(range(16)), addr=32, imm=8),
        msg(3, BYE),
    ),
    "stream_reordered": stream(4, msg(2, CTRL, b"c"), msg(1, WRITE), msg(0, INLINE, b"x" * 8, addr=0)),
    "stream_over_bound": stream(1, msg(3, WRITE), msg(2, WRITE), msg(0, WRITE)),
    "stream_duplicate": stream(2, msg(0, WRITE), msg(0, WRITE), msg(1, CTRL, b"d")),
    "stream_inline_past_end": stream(2, msg(0, INLINE, b"y" * 16, addr=248)),
    "stream_inline_wrapping": stream(2, msg(0, INLINE, b"z" * 16, addr=0xFFFFFFFFFFFFFFF8)),
    "stream_unknown_kind": stream(2, msg(0, 9, b"")),
}

for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
