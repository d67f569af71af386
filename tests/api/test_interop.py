"""Interop: an independent tlog-tiles client, written here from the public specs, reads the running log.

Nothing from regledger (ledger.*, keys.*, api.*, registry.*) is imported in this file: only hashlib,
base64, httpx and `cryptography` for Ed25519.  The reader

- parses the C2SP verifier key (`name+hex8+base64(0x01||pub)`) and checks its key id,
  SHA-256(name || 0x0A || 0x01 || pub)[:4];
- parses the signed note at /log/checkpoint (C2SP signed-note, tlog-checkpoint) and verifies its
  Ed25519 signature;
- fetches the level-0 and level-1 tiles and the entry bundles (C2SP tlog-tiles) for the checkpoint's
  size, recomputes every leaf hash as SHA-256(0x00 || entry), checks the tiles against each other and
  recomputes the RFC 9162 root, which must equal the checkpoint's.

The reader is first checked against the specs' own test vectors (../shared/formats.md).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

pytest_plugins = ["apitest_fixtures"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = 32
EM_DASH = "\u2014"


# -- RFC 9162 section 2.1 ---------------------------------------------------------------------------


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def hash_leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def hash_children(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(leaf_hashes: list[bytes]) -> bytes:
    n = len(leaf_hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hashes[0]
    k = largest_power_of_two_below(n)
    return hash_children(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


# -- C2SP signed-note, vkey, tlog-checkpoint -----------------------------------------------------------


@dataclass
class VerifierKey:
    name: str
    key_id: bytes
    public: Ed25519PublicKey


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + public)[:4]


def parse_verifier_key(vkey: str) -> VerifierKey:
    name, id_hex, b64 = vkey.strip().split("+", 2)
    assert name and " " not in name and "+" not in name
    raw = base64.b64decode(b64, validate=True)
    assert len(raw) == 33 and raw[0] == 0x01, "an Ed25519 (type 0x01) key"
    kid = key_id(name, 0x01, raw[1:])
    assert kid.hex() == id_hex, "the key id in the vkey matches SHA-256(name||0x0A||0x01||pub)[:4]"
    return VerifierKey(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))


def open_signed_note(note: bytes, key: VerifierKey) -> str:
    """The note's text (including its final newline) if `key` signed it; raises otherwise."""
    text_s = note.decode("utf-8")
    for c in text_s:
        assert c == "\n" or ord(c) >= 0x20, "no control characters but newline"
    sep = text_s.rfind("\n\n")
    assert sep >= 0 and text_s.endswith("\n")
    text, sigs = text_s[: sep + 1], text_s[sep + 2 :]
    verified = False
    lines = sigs[:-1].split("\n")
    assert 1 <= len(lines)
    for line in lines:
        assert line.startswith(EM_DASH + " "), line
        name, b64 = line[2:].rsplit(" ", 1)
        raw = base64.b64decode(b64, validate=True)
        if name != key.name or raw[:4] != key.key_id:
            continue  # someone else's signature (a witness, a rotated key): ignored
        key.public.verify(raw[4:], text.encode())  # raises InvalidSignature
        verified = True
    if not verified:
        raise InvalidSignature("no signature by the known key")
    return text


@dataclass
class TreeHead:
    origin: str
    size: int
    root: bytes


def parse_checkpoint(text: str) -> TreeHead:
    lines = text[:-1].split("\n")
    assert len(lines) >= 3
    origin, size_s, root_b64 = lines[:3]
    assert size_s.isdigit() and (size_s == "0" or not size_s.startswith("0"))
    root = base64.b64decode(root_b64, validate=True)
    assert len(root) == HASH and base64.b64encode(root).decode() == root_b64
    assert all(lines[3:]), "extension lines are non-empty"
    return TreeHead(origin, int(size_s), root)


# -- C2SP tlog-tiles -----------------------------------------------------------------------------------


def tile_index_path(n: int) -> str:
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int | str, n: int, width: int) -> str:
    return f"tile/{level}/{tile_index_path(n)}" + ("" if width == TILE_WIDTH else f".p/{width}")


def parse_entry_bundle(data: bytes) -> list[bytes]:
    entries, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        assert pos + 2 + length <= len(data), "the bundle ends inside an entry"
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return entries


class TileReader:
    def __init__(self, http: httpx.Client, prefix: str = "/log/") -> None:
        self.http = http
        self.prefix = prefix
        self.fetched: list[str] = []

    def get(self, path: str) -> bytes:
        r = self.http.get(self.prefix + path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        self.fetched.append(path)
        return r.content

    def level_hashes(self, level: int, size: int) -> list[bytes]:
        """Every hash at `level` for a tree of `size`: full tiles, then the partial one."""
        count = size >> (TILE_HEIGHT * level)
        out: list[bytes] = []
        for n in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, count - n * TILE_WIDTH)
            data = self.get(tile_path(level, n, width))
            assert len(data) == width * HASH
            out += [data[i : i + HASH] for i in range(0, len(data), HASH)]
        return out

    def entries(self, size: int) -> list[bytes]:
        out: list[bytes] = []
        for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, size - n * TILE_WIDTH)
            bundle = parse_entry_bundle(self.get(tile_path("entries", n, width)))
            assert len(bundle) == width
            out += bundle
        return out


def root_from_tiles(size: int, levels: list[list[bytes]]) -> bytes:
    """MTH of the first `size` leaves, taking each aligned full 256**l-leaf subtree from level l."""

    def subtree(start: int, n: int) -> bytes:
        # the largest level whose tile entries cover exactly this aligned, complete subtree
        for level in range(len(levels) - 1, -1, -1):
            span = 1 << (TILE_HEIGHT * level)
            if n == span and start % span == 0:
                return levels[level][start // span]
        k = largest_power_of_two_below(n)
        return hash_children(subtree(start, k), subtree(start + k, n - k))

    return sha256(b"") if size == 0 else subtree(0, size)


# -- the reader against the specs' own vectors ------------------------------------------------------


def test_reader_against_rfc6962_vectors():
    leaves = [
        bytes.fromhex(h)
        for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
    ]
    roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    for n, root in enumerate(roots):
        assert mth([hash_leaf(x) for x in leaves[:n]]).hex() == root
    assert hash_leaf(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert hash_children(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_reader_against_signed_note_vectors():
    key = parse_verifier_key("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    note = (
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTg"
        "K7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    ).encode()
    assert open_signed_note(note, key) == "This is an example message.\n"
    with pytest.raises(InvalidSignature):
        open_signed_note(note.replace(b"example message", b"exemplary message"), key)
    sumdb = parse_verifier_key("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
    sth = (
        "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n— sum.golang.org "
        "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
    )
    head = parse_checkpoint(open_signed_note(sth.encode(), sumdb))
    assert (head.origin, head.size) == ("go.sum database tree", 6476701)
    # an unknown signer's line is ignored, but one known signature is required
    other = "— other.example AAAAAAAA" + "A" * 84 + "\n"
    assert open_signed_note(note + other.encode(), key)
    with pytest.raises(InvalidSignature):
        open_signed_note(note.split(b"\n\n")[0] + b"\n\n" + other.encode(), key)


def test_reader_tile_paths():
    assert tile_index_path(1234067) == "x001/x234/067"
    assert tile_path(0, 0, 256) == "tile/0/000"
    assert tile_path("entries", 0, 17) == "tile/entries/000.p/17"
    # size 70,000: 273 full level-0 tiles and a partial of 112; level 1: one full and 17; level 2: 1
    assert (70000 // 256, 70000 % 256) == (273, 112)
    assert ((70000 >> 8) // 256, (70000 >> 8) % 256, 70000 >> 16) == (1, 17, 1)


# -- the running log ------------------------------------------------------------------------------------


def no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.status_code)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(
        base_url=server.url, timeout=30, trust_env=False, event_hooks={"response": [no_server_error]}
    ) as c:
        yield c


def test_checkpoint_signature_and_tree_recomputed_from_tiles(http):
    key = parse_verifier_key(http.get("/log/key").text)
    r = http.get("/log/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = open_signed_note(r.content, key)
    head = parse_checkpoint(text)
    assert head.origin == key.name, "the log's key name equals the origin"
    assert head.size > TILE_WIDTH, "the demo log has at least one full tile"
    # regledger's status-map root rides as an extension line; this C2SP reader knows nothing of it
    assert text.split("\n")[3].startswith("regledger-map/v1 ")

    reader = TileReader(http)
    levels = [reader.level_hashes(0, head.size)]
    while head.size >> (TILE_HEIGHT * len(levels)):
        levels.append(reader.level_hashes(len(levels), head.size))
    assert len(levels) >= 2

    # each level-(l+1) hash is the MTH of the full level-l tile below it
    for level in range(1, len(levels)):
        for n, h in enumerate(levels[level]):
            assert h == mth(levels[level - 1][n * TILE_WIDTH : (n + 1) * TILE_WIDTH]), (level, n)

    # the entry bundles hash to the level-0 tiles, and the entries chain
    entries = reader.entries(head.size)
    assert len(entries) == head.size
    assert [hash_leaf(e) for e in entries] == levels[0]
    prev = bytes(32)
    for i, e in enumerate(entries):
        obj = json.loads(e)
        assert obj["v"] == 1 and obj["index"] == i
        assert base64.b64decode(obj["prev"]) == prev
        assert {"kind", "subject", "payload", "time", "key", "sig"} <= set(obj["statement"])
        prev = hash_leaf(e)

    # the root, from the tiles alone and from the leaves alone
    assert root_from_tiles(head.size, levels) == head.root
    assert mth(levels[0]) == head.root
    assert "tile/0/000" in reader.fetched and "tile/entries/000" in reader.fetched
    assert any(".p/" in p for p in reader.fetched)


def test_tiles_are_immutable_and_the_checkpoint_is_not(http):
    head = parse_checkpoint(
        open_signed_note(http.get("/log/checkpoint").content, parse_verifier_key(http.get("/log/key").text))
    )
    full = http.get("/log/" + tile_path(0, 0, TILE_WIDTH))
    assert full.headers["content-type"] == "application/octet-stream"
    assert "immutable" in full.headers["cache-control"]
    assert "immutable" not in http.get("/log/checkpoint").headers.get("cache-control", "")
    # entry bundles come gzip-compressed to a client that asks; the bytes are the same
    plain = http.get("/log/" + tile_path("entries", 0, TILE_WIDTH), headers={"accept-encoding": "identity"})
    with http.stream(
        "GET", "/log/" + tile_path("entries", 0, TILE_WIDTH), headers={"accept-encoding": "gzip"}
    ) as zipped:
        assert zipped.headers.get("content-encoding") == "gzip"
        compressed = b"".join(zipped.iter_raw())
    assert gzip.decompress(compressed) == plain.content
    assert [hash_leaf(e) for e in parse_entry_bundle(plain.content)] == [
        full.content[i : i + HASH] for i in range(0, len(full.content), HASH)
    ]
    # past the checkpoint there is nothing
    beyond = tile_path(0, head.size // TILE_WIDTH + 1, TILE_WIDTH)
    assert http.get("/log/" + beyond).status_code == 404


def test_an_older_checkpoint_is_consistent_with_the_tiles(http):
    """The size-1 checkpoint's root is the hash of entry 0 as the latest tiles hold it (append-only)."""
    key = parse_verifier_key(http.get("/log/key").text)
    one = http.get("/v1/checkpoint", params={"size": 1}).json()
    head = parse_checkpoint(open_signed_note(one["note"].encode(), key))
    assert head.size == 1
    tile0 = http.get("/log/" + tile_path(0, 0, TILE_WIDTH)).content
    assert head.root == tile0[:HASH]
