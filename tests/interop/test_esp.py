#!/usr/bin/python3
"""Interop, ESP: kmod-sim against Scapy 2.5 with ChaCha20-Poly1305, AES-256-GCM-16 and NULL with
HMAC-SHA2-256-128 / HMAC-SHA2-512-256; tunnel (IPIP grouped with the ESP SA) and transport;
IPv4, IPv6 and the mixed tunnels; kmod-sim's packets decrypted and verified by Scapy, Scapy's
packets delivered by kmod-sim byte for byte, and the SA's ipsec_spi counters."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmodsim  # noqa: E402


def body(c):
    import single_sa
    single_sa.run_matrix(c, "esp", ["chacha20-poly1305", "aes256gcm16", "null-hmac-sha2-256",
                                     "null-hmac-sha2-512"], "esp")


if __name__ == "__main__":
    kmodsim.run_main("interop esp", body)
