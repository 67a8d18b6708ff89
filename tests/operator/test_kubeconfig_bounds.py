"""The kubeconfig reader is bounded: the official client would expand an alias bomb while walking it."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_kube import connection

KUBECONFIG = """apiVersion: v1
kind: Config
{anchors}clusters:
- name: lab
  cluster: {{server: "https://127.0.0.1:16443", insecure-skip-tls-verify: true}}
users:
- name: admin
  user: {{token: abcdefghijklmnop}}
contexts:
- name: lab
  context: {{cluster: lab, user: admin, namespace: iot{extra}}}
current-context: lab
"""


def bomb(levels: int) -> str:
    """`levels` anchors, each nine aliases of the one before: 9**levels nodes once expanded."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "preferences:\n" + "".join(f"  {line}\n" for line in lines)


async def test_a_plain_kubeconfig_loads(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG.format(extra="", anchors=""))
    conn = await connection.load(kubeconfig=path)
    assert (conn.server, conn.namespace, conn.token) == ("https://127.0.0.1:16443", "iot", "abcdefghijklmnop")


async def test_an_alias_bomb_in_a_context_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG.format(extra=", extensions: *l4", anchors=bomb(5)))  # 59,049 nodes
    with pytest.raises(connection.NoConnection, match=rf"kubeconfig {path}: aliases expand to more than"):
        await connection.load(kubeconfig=path)


async def test_an_oversized_file_in_the_kubeconfig_list_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, big = tmp_path / "a", tmp_path / "b"
    good.write_text(KUBECONFIG.format(extra="", anchors=""))
    big.write_text("# padding\n" * ((connection.KUBECONFIG_LIMITS.max_bytes // 10) + 1))
    monkeypatch.setenv("KUBECONFIG", f"{good}:{big}")
    with pytest.raises(connection.NoConnection, match=rf"kubeconfig {big}: "):
        await connection.load()
