"""Images the test node needs and no registry can give: written as `docker save` archives, which
`ctr images import` reads. Standard library only: `cluster/build.sh` runs it before the venv exists.

    python3 cluster/images.py pause BINARY OUT.tar     # the pod sandbox image, from cluster/pause/
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

PAUSE_IMAGE = "iotemu.local/pause:1"


def docker_archive(ref: str, files: dict[str, tuple[bytes, int]], entrypoint: list[str]) -> bytes:
    """A one-layer image as `docker save` writes it (what `ctr images import` reads): path -> (data, mode)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]},
    }
    manifest = [{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer.tar"]}]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [
            ("layer.tar", layer_bytes),
            ("config.json", json.dumps(config).encode()),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "pause":
        print(__doc__, file=sys.stderr)
        return 2
    binary, out = Path(argv[1]), Path(argv[2])
    archive = docker_archive(PAUSE_IMAGE, {"pause": (binary.read_bytes(), 0o755)}, ["/pause"])
    out.write_bytes(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
