"""Mirai's default-credential list, the one IoT brute-force traffic still replays.

Source: the Mirai source code published in 2016, `mirai/bot/scanner.c`, `scanner_init()`: the
62 `add_auth_entry(user, password, weight)` calls (strings XOR-obfuscated with 0x22 there, shown in
clear in its comments), here in the same order (github.com/jgamblin/Mirai-Source-Code). Mirai
draws an entry at random by weight; the emulation walks the list in order so that a test can
predict the usernames the lab's servers log.
"""

from __future__ import annotations

MIRAI: tuple[tuple[str, str], ...] = (
    ("root", "xc3511"), ("root", "vizxv"), ("root", "admin"), ("admin", "admin"), ("root", "888888"),
    ("root", "xmhdipc"), ("root", "default"), ("root", "juantech"), ("root", "123456"), ("root", "54321"),
    ("support", "support"), ("root", ""), ("admin", "password"), ("root", "root"), ("root", "12345"),
    ("user", "user"), ("admin", ""), ("root", "pass"), ("admin", "admin1234"), ("root", "1111"),
    ("admin", "smcadmin"), ("admin", "1111"), ("root", "666666"), ("root", "password"), ("root", "1234"),
    ("root", "klv123"), ("Administrator", "admin"), ("service", "service"), ("supervisor", "supervisor"),
    ("guest", "guest"), ("guest", "12345"), ("guest", "12345"), ("admin1", "password"), ("administrator", "1234"),
    ("666666", "666666"), ("888888", "888888"), ("ubnt", "ubnt"), ("root", "klv1234"), ("root", "Zte521"),
    ("root", "hi3518"), ("root", "jvbzd"), ("root", "anko"), ("root", "zlxx."), ("root", "7ujMko0vizxv"),
    ("root", "7ujMko0admin"), ("root", "system"), ("root", "ikwb"), ("root", "dreambox"), ("root", "user"),
    ("root", "realtek"), ("root", "00000000"), ("admin", "1111111"), ("admin", "1234"), ("admin", "12345"),
    ("admin", "54321"), ("admin", "123456"), ("admin", "7ujMko0admin"), ("admin", "1234"), ("admin", "pass"),
    ("admin", "meinsm"), ("tech", "tech"), ("mother", "fucker"),
)  # fmt: skip
