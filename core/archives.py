"""Uploaded zip files, opened safely: one place that every zip upload goes through (catalog import,
evaluation queries, "Top categories").

A zip is hostile until read: member names may climb out of the target folder (`../../x`), headers may lie
about sizes (a bomb of 1 MB that inflates to terabytes), members may be encrypted (ZipCrypto or AES) or
fail their CRC. Sizes are counted as bytes actually come out, not as the headers claim.
"""
from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from core.errors import StyleLensError

MAX_MEMBERS = 100_000
CHUNK = 1 << 20


class ArchiveError(StyleLensError, ValueError):
    """A zip that cannot be used, with the reason."""


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the zip, '/'-separated, known to stay inside any folder it is unpacked into
    info: zipfile.ZipInfo


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise ArchiveError("The upload is not a valid zip file.") from exc


def safe_members(archive: zipfile.ZipFile, max_bytes: int) -> list[Member]:
    """The regular files of the zip whose names are safe to unpack (no absolute paths, no '..', no links,
    no macOS resource forks); refuses the zip if it is encrypted or claims more than `max_bytes`."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"The zip holds {len(infos):,} entries; the limit is {MAX_MEMBERS:,}.")
    members = []
    for info in infos:
        name = _safe_name(info)
        if name is None:
            continue
        if info.flag_bits & 0x1:
            raise ArchiveError(f"The zip is password-protected ({info.filename}); upload an unencrypted one.")
        members.append(Member(name, info))
    if sum(m.info.file_size for m in members) > max_bytes:
        raise ArchiveError(f"The zip unpacks to more than {max_bytes / 2**30:.1f} GB.")
    return members


def unpack(data: bytes, max_bytes: int, targets: Callable[[list[Member]], list[tuple[Member, Path]]]) -> None:
    """Open an uploaded zip, hand its safe members to `targets` (which says where each goes, or raises to refuse
    the zip) and write them there, `max_bytes` at most in all."""
    with open_zip(data) as archive:
        budget = [max_bytes]
        for member, target in targets(safe_members(archive, max_bytes)):
            extract_member(archive, member, target, budget)


def read_member(archive: zipfile.ZipFile, member: Member, budget: list[int]) -> bytes:
    """The member's bytes; `budget` ([bytes left]) shrinks by what came out, so a lying header cannot inflate
    past it."""
    return b"".join(_chunks(archive, member, budget))


def extract_member(archive: zipfile.ZipFile, member: Member, target: Path, budget: list[int]) -> None:
    """Write the member to `target` (its folders made), counting its bytes against `budget`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as sink:
            for chunk in _chunks(archive, member, budget):
                sink.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _chunks(archive: zipfile.ZipFile, member: Member, budget: list[int]) -> Iterator[bytes]:
    try:
        with archive.open(member.info) as source:
            while chunk := source.read(CHUNK):
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise ArchiveError("The zip unpacks to more than it says (a zip bomb?); nothing was imported.")
                yield chunk
    except ArchiveError:
        raise
    except NotImplementedError as exc:  # AES encryption or an unknown compression method
        raise ArchiveError(f"{member.name} in the zip uses encryption or compression StyleLens cannot read "
                           f"({exc}).") from exc
    except (zipfile.BadZipFile, zlib.error, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"The zip is damaged or encrypted ({member.name}: {exc}).") from exc


def _safe_name(info: zipfile.ZipInfo) -> str | None:
    """The member's path if it is a regular file that stays inside the folder it is unpacked into."""
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
        return None
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or "__MACOSX" in path.parts or not path.parts:
        return None
    if any(part.startswith(".") for part in path.parts) or ":" in info.filename or "\x00" in info.filename:
        return None  # hidden files, Windows drive letters
    return str(path)
