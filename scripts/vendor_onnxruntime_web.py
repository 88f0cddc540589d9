"""Vendor onnxruntime-web's WASM-only, single-thread runtime into the package (run by hand when upgrading).

    python scripts/vendor_onnxruntime_web.py            # fetch, check, extract, write SHA256SUMS
    python scripts/vendor_onnxruntime_web.py --check    # only check the committed files against SHA256SUMS

It runs ``npm pack onnxruntime-web@VERSION`` in a temporary folder (npm's ordinary client; nothing is installed),
refuses a tarball whose SHA-256 is not the pinned one, and extracts only what a page that runs the model on the
CPU in one thread needs:

    ort.wasm.min.mjs               the ES-module API of the WASM-only build
    ort-wasm-simd-threaded.mjs     the Emscripten glue ORT imports from ``env.wasm.wasmPaths``
    ort-wasm-simd-threaded.wasm    the runtime itself (SIMD; runs single-threaded without SharedArrayBuffer)

plus LICENSE (the npm tarball carries none; the package declares MIT, and this is onnxruntime's MIT licence
text) into ``capsviz/app/components/vendor/onnxruntime-web/``, with VERSION and SHA256SUMS beside them. The files
are committed, so installing capsviz stays pip-only.

Upgrading: change VERSION, run once with ``--sha256 ''`` to print the new tarball's digest, check it against
``npm view onnxruntime-web@VERSION dist.integrity``, pin it in TARBALL_SHA256, run again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.31.1"
TARBALL_SHA256 = "bdccdb9fbb9ab537247c0c734e9b1d2b1b338b4f2a09faa58f0dc1cfa27c312c"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEST = Path(__file__).resolve().parents[1] / "capsviz" / "app" / "components" / "vendor" / "onnxruntime-web"
LICENSE = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npm_pack(version: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH: install Node.js (npm) to vendor onnxruntime-web.")
    proc = subprocess.run(
        [npm, "pack", f"onnxruntime-web@{version}", "--json"], cwd=workdir, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"npm pack onnxruntime-web@{version} failed:\n{proc.stderr.strip()[-2000:]}")
    (info,) = json.loads(proc.stdout)
    return workdir / info["filename"]


def extract(tarball: Path, dest: Path) -> None:
    """Only FILES from package/dist/, read member by member (no extractall: nothing else is written)."""
    with tarfile.open(tarball, "r:gz") as tar:
        for name in FILES:
            member = tar.getmember(f"package/dist/{name}")
            source = tar.extractfile(member)
            if source is None or not member.isfile():
                sys.exit(f"{tarball.name}: package/dist/{name} is not a regular file")
            with source, open(dest / name, "wb") as out:
                shutil.copyfileobj(source, out)


def write_sums(dest: Path, version: str, tarball_sha: str) -> None:
    names = (*FILES, "LICENSE")
    (dest / "VERSION").write_text(f"onnxruntime-web {version}\nnpm tarball sha256 {tarball_sha}\n")
    (dest / "SHA256SUMS").write_text("".join(f"{sha256(dest / n)}  {n}\n" for n in names))


def check(dest: Path) -> list[str]:
    """Files whose digest is not the one SHA256SUMS records (empty when all match)."""
    bad = []
    for line in (dest / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        path = dest / name
        if not path.is_file() or sha256(path) != digest:
            bad.append(name)
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--sha256", default=TARBALL_SHA256, help="expected tarball SHA-256 ('' prints it and stops)")
    parser.add_argument("--dest", type=Path, default=DEST)
    parser.add_argument("--check", action="store_true", help="only verify the vendored files against SHA256SUMS")
    args = parser.parse_args(argv)
    if args.check:
        bad = check(args.dest)
        print("vendored onnxruntime-web: " + (f"MISMATCH {bad}" if bad else "all files match SHA256SUMS"))
        return 1 if bad else 0
    with tempfile.TemporaryDirectory(prefix="capsviz-ort-") as tmp:
        tarball = npm_pack(args.version, Path(tmp))
        got = sha256(tarball)
        if not args.sha256:
            print(f"{tarball.name} sha256 {got}")
            return 0
        if got != args.sha256:
            sys.exit(f"{tarball.name}: sha256 {got} is not the pinned {args.sha256}; refusing to vendor it.")
        if args.dest.exists():
            shutil.rmtree(args.dest)
        args.dest.mkdir(parents=True)
        extract(tarball, args.dest)
    (args.dest / "LICENSE").write_text(LICENSE)
    write_sums(args.dest, args.version, args.sha256)
    sizes = ", ".join(f"{n} {(args.dest / n).stat().st_size:,} B" for n in FILES)
    print(f"vendored onnxruntime-web {args.version} into {args.dest}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
