#!/usr/bin/python3
"""Interop, AH: kmod-sim against Scapy 2.5 with HMAC-SHA2-256-128 and HMAC-SHA2-512-256; tunnel
(IPIP grouped with the AH SA) and transport; IPv4, IPv6 and the mixed tunnels; both ways, with
the ICV over the outer header's immutable fields (RFC 4302 §3.3.3)."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmodsim  # noqa: E402


def body(c):
    import single_sa
    single_sa.run_matrix(c, "ah", ["hmac-sha2-256-128", "hmac-sha2-512-256"], "ah")


if __name__ == "__main__":
    kmodsim.run_main("interop ah", body)
