"""Where an Item file goes, and hrefs written relative to it, so an Item and what it points to
(the store, the model's weights, the model's Item) can be moved together."""

from __future__ import annotations

import os
from pathlib import Path

import pystac


def item_file(path: str | os.PathLike) -> Path:
    """The absolute path an Item will be saved at; its folder is created."""
    out = Path(path).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def relative_href(target: str | os.PathLike, item_path: Path) -> str:
    """``target`` relative to the Item file's folder (POSIX separators); absolute when there is no
    relative path (another drive on Windows)."""
    try:
        return Path(os.path.relpath(target, item_path.parent)).as_posix()
    except ValueError:
        return str(target)


def save_item(item: pystac.Item, item_path: Path) -> pystac.Item:
    """Save ``item`` as JSON at ``item_path`` (no self link in the file: it is where it is read from)."""
    item.save_object(include_self_link=False, dest_href=str(item_path))
    return item
