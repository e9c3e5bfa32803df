"""Read raw example files (.jsonl, .json, .csv, .parquet) into records that know where they came from.

Every record carries `file:line` (for .parquet: `file:row`), so a rejection or a duplicate can
always be traced back to the user's data. A line that doesn't parse becomes a record with an
`error` (the parser's message) instead of an exception: the pipeline decides whether that stops
the run or goes to `rejected.jsonl`. Problems that make a whole file unreadable (a .json array
with a syntax error, a corrupt .parquet file) raise `DatasetError` — there is no line to skip to.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertkit.errors import DatasetError

SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(slots=True)
class RawRecord:
    """One raw example, or one line that could not be read as one."""

    file: str  # as shown to the user (relative to the expert directory when possible)
    line: int  # 1-based line (jsonl, json, csv) or row (parquet)
    data: dict[str, Any] | None  # None when the line is malformed
    error: str | None = None  # parser message for a malformed line
    raw: str | None = None  # the line's text, kept only for malformed lines

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def display_name(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` when it is inside it (messages stay short and stable)."""
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def raw_files(raw_dir: Path) -> tuple[list[Path], list[Path]]:
    """(supported files sorted by name, other files that will be ignored) in ``raw_dir``."""
    if not raw_dir.is_dir():
        raise DatasetError(
            f"{raw_dir}: raw data directory not found",
            hint="put .jsonl/.json/.csv/.parquet files there, or set training.dataset.raw_path",
        )
    files, ignored = [], []
    for p in sorted(raw_dir.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        (files if p.suffix.lower() in SUPPORTED_SUFFIXES else ignored).append(p)
    return files, ignored


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def _check_content(path: Path, shown: str) -> None:
    """An empty file or a Git LFS pointer (the repository was cloned without `git lfs`) says so."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(LFS_POINTER) + 3)
    except OSError as exc:
        raise DatasetError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if not head.strip():
        if not path.read_bytes().strip():
            raise DatasetError(f"{shown}: the file is empty (no examples)", hint="fill it with examples or remove it")
    elif head.lstrip(b"\xef\xbb\xbf").startswith(LFS_POINTER):
        raise DatasetError(f"{shown}: is a Git LFS pointer, not the data (the repository was cloned without Git LFS)",
                           hint="fetch the real file: `git lfs install && git lfs pull` in the repository")


def load_file(path: Path, shown: str | None = None) -> list[RawRecord]:
    """All records of one raw file, malformed lines included (with their parser message)."""
    shown = shown or str(path)
    suffix = path.suffix.lower()
    _check_content(path, shown)
    if suffix == ".jsonl":
        return load_jsonl(path, shown)
    if suffix == ".json":
        return load_json_array(path, shown)
    if suffix == ".csv":
        return load_csv(path, shown)
    if suffix == ".parquet":
        return load_parquet(path, shown)
    raise DatasetError(f"{shown}: unsupported file type {suffix!r} (expected one of {', '.join(SUPPORTED_SUFFIXES)})")


def _read_bytes(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def _lines(data: bytes) -> Iterable[tuple[int, str | None, str | None]]:
    """(line number, text or None, decode error or None); split on \\n only, as JSON Lines says."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # slow path, only for broken files: find which lines are not UTF-8
        for number, chunk in enumerate(data.split(b"\n"), 1):
            try:
                yield number, chunk.decode("utf-8-sig" if number == 1 else "utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"invalid UTF-8 at byte {exc.start}: {exc.reason}"
        return
    for number, line in enumerate(text.split("\n"), 1):
        yield number, line, None


def parse_json_line(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, parser message) for one JSON Lines line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} (column {exc.colno})"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, found {_json_type(obj)}"
    return obj, None


def load_jsonl(path: Path, shown: str) -> list[RawRecord]:
    records: list[RawRecord] = []
    append = records.append
    loads = json.loads
    for number, line, decode_error in _lines(_read_bytes(path, shown)):
        if decode_error:
            append(RawRecord(shown, number, None, decode_error, None))
            continue
        if not line.strip():
            continue  # blank lines carry no data
        try:
            obj = loads(line)  # fast path; the slow path below only runs for bad lines
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            append(RawRecord(shown, number, obj))
            continue
        _, error = parse_json_line(line)
        append(RawRecord(shown, number, None, error, line.rstrip("\r")))
    return records


def load_json_array(path: Path, shown: str) -> list[RawRecord]:
    """A .json file holding one array of objects; each element keeps the line it starts on."""
    try:
        text = _read_bytes(path, shown).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{shown}: invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        raise DatasetError(
            f"{shown}:{text.count(chr(10), 0, pos) + 1}: expected a JSON array of objects",
            hint="a .json raw file holds one array `[{...}, {...}]`; use .jsonl for one object per line",
        )
    records: list[RawRecord] = []
    pos = _skip_ws(text, pos + 1)
    line, counted = 1, 0
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _array_error(shown, exc) from None
        if isinstance(obj, dict):
            records.append(RawRecord(shown, line, obj))
        else:
            records.append(RawRecord(shown, line, None, f"expected a JSON object, found {_json_type(obj)}", text[pos:end]))
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
        elif not text.startswith("]", pos):
            raise _array_error(shown, json.JSONDecodeError("Expecting ',' delimiter", text, pos))
    if pos >= len(text) or text[_skip_ws(text, pos + 1):].strip():
        raise _array_error(shown, json.JSONDecodeError("Expecting ']' at the end of the array", text, min(pos, len(text))))
    return records


def _array_error(shown: str, exc: json.JSONDecodeError) -> DatasetError:
    return DatasetError(
        f"{shown}:{exc.lineno}: {exc.msg} (column {exc.colno})",
        hint="a .json file must parse as a whole (even with --skip-invalid); fix it or convert it to .jsonl",
    )


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def load_csv(path: Path, shown: str) -> list[RawRecord]:
    """A CSV file with a header row; a row whose field count differs from the header is malformed."""
    records: list[RawRecord] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return records
            width = len(header)
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if not row:
                    continue
                if len(row) != width:
                    records.append(RawRecord(shown, line, None, f"expected {width} fields (as in the header), found {len(row)}", ",".join(row)))
                    continue
                records.append(RawRecord(shown, line, dict(zip(header, row, strict=True))))
    except csv.Error as exc:
        raise DatasetError(f"{shown}:{reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{shown}: invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
    except OSError as exc:
        raise DatasetError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    return records


def load_parquet(path: Path, shown: str) -> list[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{shown}: not a readable parquet file: {exc}") from None
    return [RawRecord(shown, number, row) for number, row in enumerate(rows, 1)]


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(type(obj), "null")
