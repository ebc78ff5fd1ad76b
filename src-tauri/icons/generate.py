#!/usr/bin/env python3
"""Draws Kith's app icon (a circle of people around one: a team looking out for each other) as
RGBA PNGs with no dependencies beyond the standard library. Run from this directory:

    python3 generate.py
"""
import math
import struct
import zlib

TEAL = (15, 118, 110)
WHITE = (255, 255, 255)
SUPERSAMPLE = 4


def coverage(x, y):
    """(alpha of the tile, whiteness of the mark) at a point of the unit square."""
    # A rounded square tile with a small margin.
    m, r = 0.04, 0.22
    qx = abs(x - 0.5) - (0.5 - m - r)
    qy = abs(y - 0.5) - (0.5 - m - r)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - r
    if outside > 0:
        return 0.0, 0.0
    cx, cy = x - 0.5, y - 0.5
    # One person in the middle, five around them, and the ring that joins them.
    if math.hypot(cx, cy) < 0.085:
        return 1.0, 1.0
    for i in range(5):
        a = -math.pi / 2 + i * 2 * math.pi / 5
        if math.hypot(cx - 0.27 * math.cos(a), cy - 0.27 * math.sin(a)) < 0.07:
            return 1.0, 1.0
    if abs(math.hypot(cx, cy) - 0.27) < 0.018:
        return 1.0, 1.0
    return 1.0, 0.0


def render(size):
    rows = []
    n = SUPERSAMPLE
    for py in range(size):
        row = bytearray([0])  # filter type: none
        for px in range(size):
            a_sum = w_sum = 0.0
            for sy in range(n):
                for sx in range(n):
                    a, w = coverage((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size)
                    a_sum += a
                    w_sum += w
            a = a_sum / (n * n)
            w = w_sum / a_sum if a_sum else 0.0
            rgb = [round(t * (1 - w) + 255 * w) for t in TEAL]
            row += bytes(rgb + [round(a * 255)])
        rows.append(bytes(row))
    return b"".join(rows)


def png(size, path):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(render(size), 9))
    with open(path, "wb") as f:
        f.write(data + chunk(b"IEND", b""))


if __name__ == "__main__":
    for size, name in [(32, "32x32.png"), (128, "128x128.png"), (256, "128x128@2x.png"), (512, "icon.png")]:
        png(size, name)
        print(name)
