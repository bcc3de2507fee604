#!/usr/bin/env python3
"""Writes the seeds of fuzz/ps_msg_fuzz.cc into fuzz/corpus/ps_msg/: one valid
message of each type, a session of each side, and a few malformed ones. The
layouts follow src/ps/wire.h (little endian)."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "ps_msg")

# First byte: bit 0 = worker receives, the rest picks 4 ranks and peer 3;
# second byte: 4 open slots.
SERVER = bytes([4, 4])
WORKER = bytes([5, 4])


def rec(m):
    return bytes([len(m)]) + m


def register(dtype=7, slot=2, offset=1024, nbytes=512, tensor=4096):
    return struct.pack("<BB2xIQIIQQQ", 1, dtype, slot, 42, 0, 0, offset, nbytes, tensor)


def frag(type_, key_id, addr, size):
    key = struct.pack("<IQQ", 12, addr, size) + b"\x01" * 12
    return struct.pack("<BBBBI56s", type_, 0, 1, len(key), key_id, key)


def pull(slot=1):
    return struct.pack("<B3xIIIQQ", 3, slot, 7, 9, 0, 1)


def error(code=6, slot=0xFFFFFFFF, culprit=1, text=b"worker rank 1 died"):
    return struct.pack("<BB2xIi52s", 20, code, slot, culprit, text)


forget = struct.pack("<B3xI", 4, 9)
bye = struct.pack("<B7x", 5)
reply = struct.pack("<B3xIIIQ", 16, 2, 0, 0, 0)
ack = struct.pack("<B3xIQ", 18, 2, 1)
pull_reply = struct.pack("<B3xIQ", 19, 7, 1)
to_server = frag(2, 9, 0x7F0000001000, 4096)
to_worker = frag(17, 2, 0x1000, 512)

SEEDS = {
    "register": SERVER + rec(register()),
    "key_to_server": SERVER + rec(to_server),
    "pull_request": SERVER + rec(pull()),
    "forget": SERVER + rec(forget),
    "bye": SERVER + rec(bye),
    "server_session": SERVER + rec(register()) + rec(to_server) + rec(pull()) + rec(forget) + rec(bye),
    "register_reply": WORKER + rec(reply),
    "key_to_worker": WORKER + rec(to_worker),
    "push_ack": WORKER + rec(ack),
    "pull_reply": WORKER + rec(pull_reply),
    "error_all_slots": WORKER + rec(error()),
    "worker_session": WORKER + rec(to_worker) + rec(reply) + rec(ack) + rec(pull_reply),
    # Malformed: each must be refused (or, for errors, repaired).
    "register_overflow": SERVER + rec(register(offset=0xFFFFFFFFFFFFFF00)),
    "register_bad_dtype": SERVER + rec(register(dtype=99)),
    "register_short": SERVER + rec(register()[:40]),
    "error_unterminated": WORKER + rec(error(code=200, slot=3, culprit=-7, text=b"x" * 52)),
    "pull_slot_out_of_range": SERVER + rec(pull(slot=4)),
    "wrong_side": WORKER + rec(register()),
    "empty": SERVER + bytes([0]),
    "too_long": SERVER + rec(to_server + bytes(8)),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
