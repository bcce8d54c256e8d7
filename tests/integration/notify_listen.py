#!/usr/bin/env python3
"""Plays systemd's side of sd_notify for the service test: binds an AF_UNIX
datagram socket at PATH and prints every state line the target sends, one
per line, flushed, until killed or TIMEOUT seconds pass without a message.

usage: notify_listen.py PATH [TIMEOUT]"""
import os
import socket
import sys

path = sys.argv[1]
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 60
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(timeout)
print("LISTENING", flush=True)
while True:
    try:
        msg = s.recv(4096)
    except socket.timeout:
        break
    for line in msg.decode(errors="replace").splitlines():
        print(line, flush=True)
