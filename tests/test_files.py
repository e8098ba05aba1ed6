"""Result files are written whole or not at all; text files that are not UTF-8 are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from instill.errors import InstillError
from instill.files import read_utf8, write_text_atomic


def test_a_write_cut_short_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_text_atomic(path, "old")

    def killed(self, target):  # the process dies between writing the new file and renaming it
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(path, "new " * 1000)
    assert path.read_text() == "old"
    monkeypatch.undo()
    write_text_atomic(path, "new")
    assert path.read_text() == "new"


def test_read_utf8_names_file_line_and_byte(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_bytes("cluster: x\nname: caf".encode() + b"\xe9\n")
    with pytest.raises(InstillError, match=r"card\.yaml:2: this task card is not UTF-8 text \(byte 20"):
        read_utf8(path, "task card")
    path.write_bytes("\ufeffname: café\n".encode())
    assert read_utf8(path) == "name: café\n"  # a BOM is dropped, UTF-8 text read as is
