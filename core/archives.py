"""Uploaded zip files, opened safely: one place that every zip upload goes through (catalog import,
evaluation queries, "Top categories").

A zip is hostile until read: member names may climb out of the target folder (`../../x`), headers may lie
about sizes (a bomb of 1 MB that inflates to terabytes), members may be encrypted (ZipCrypto or AES) or
fail their CRC. Sizes are counted as bytes actually come out, not as the headers claim.
"""

from __future__ import annotations

import errno
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import ArchiveError, StorageError

MAX_MEMBERS = 100_000
CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the zip, '/'-separated, known to stay inside any folder it is unpacked into
    info: zipfile.ZipInfo


def open_zip(data: bytes) -> zipfile.ZipFile:
    """The zip in `data`; one that declares more than MAX_MEMBERS entries is refused before they are read
    (a listing of millions of entries would take gigabytes of memory)."""
    entries = _declared_entries(data)
    if entries is not None and entries > MAX_MEMBERS:
        raise ArchiveError(f"The zip holds {entries:,} entries; the limit is {MAX_MEMBERS:,}.")
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
    """Write the member to `target` (its folders made), counting its bytes against `budget`. A name that cannot
    be a file here (too long, a file where a folder must go) refuses the zip; a full disk is a StorageError."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as sink:
            for chunk in _chunks(archive, member, budget):
                sink.write(chunk)
    except OSError as exc:
        _remove(target)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise StorageError(f"Could not unpack the zip: {exc.strerror}. Nothing was imported.") from exc
        raise ArchiveError(
            f"The zip holds a name that cannot be unpacked here ({member.name[:80]!r}: {exc.strerror or exc})."
        ) from exc
    except BaseException:
        _remove(target)
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # a folder of that name, or nothing writable: nothing of ours to remove


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
        raise ArchiveError(
            f"{member.name} in the zip uses encryption or compression StyleLens cannot read ({exc})."
        ) from exc
    except (zipfile.BadZipFile, zlib.error, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"The zip is damaged or encrypted ({member.name}: {exc}).") from exc


def _declared_entries(data: bytes) -> int | None:
    """The entry count the zip's end record declares (zip64 too), or None when there is no end record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    entries = struct.unpack_from("<H", data, end + 10)[0]
    locator = end - 20
    if entries == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if record + 40 <= len(data) and data[record : record + 4] == b"PK\x06\x06":
            entries = struct.unpack_from("<Q", data, record + 32)[0]
    return entries


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
