"""Reading a project file safely: YAML or TOML, no key twice, no alias bomb, no giant text.

The file is parsed before anything else looks at it; what :mod:`riskmap.load.schema`
then checks is a plain mapping of reasonable size.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from riskmap.errors import ProjectFileError

__all__ = ["MAX_NAME", "MAX_PROJECT_BYTES", "MAX_TEXT", "MAX_YAML_NODES", "read_raw"]


#: a project file is a few KB; anything this large is not one
MAX_PROJECT_BYTES = 1 << 20
#: nodes a YAML file may expand to through its aliases (a billion-laughs file expands to 1e9)
MAX_YAML_NODES = 20_000


class _Loader(yaml.SafeLoader):
    """YAML as a project file needs it: no key twice, aliases that stay small."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ProjectFileError(
                    f"{self.name}: 第 {key_node.start_mark.line + 1} 行: 键 {key!r} 重复 "
                    f"(key {key!r} given twice, first on line {seen[key]}); keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _expanded(node, memo: dict, path: set) -> int:
    """Nodes ``node`` stands for once every alias is expanded (a recursive one: infinite)."""
    key = id(node)
    if key in path:
        return MAX_YAML_NODES + 1  # an alias inside itself
    if key in memo:
        return memo[key]
    path.add(key)
    if isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_expanded(c, memo, path) for c in node.value)
    elif isinstance(node, yaml.MappingNode):
        n = 1 + sum(_expanded(k, memo, path) + _expanded(v, memo, path) for k, v in node.value)
    else:
        n = 1
    path.discard(key)
    memo[key] = n = min(n, MAX_YAML_NODES + 1)
    return n


def _load_yaml(text: str, path: Path):
    loader = _Loader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded(node, {}, set()) > MAX_YAML_NODES:
            raise ProjectFileError(f"{path}: YAML 别名展开过大 (the file's anchors and aliases "
                                   f"expand beyond {MAX_YAML_NODES:,} values: an alias bomb or "
                                   "a recursive alias); write the values out")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_raw(path: Path) -> dict:
    """The project file as a mapping (YAML or TOML, UTF-8 with or without BOM).

    Raises
    ------
    ProjectFileError
        Not a regular file, too large, not UTF-8 YAML/TOML, a key given twice, or
        aliases that expand beyond :data:`MAX_YAML_NODES` values (refused before
        they are expanded).
    """
    text_err = (UnicodeDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError)
    size = path.stat().st_size
    if size > MAX_PROJECT_BYTES:
        raise ProjectFileError(f"{path}: 项目文件过大 ({size / 2**20:.1f} MB; a project file is "
                               "a few KB): is this the right file?")
    try:
        if path.suffix.lower() == ".toml":
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        else:
            raw = _load_yaml(path.read_text(encoding="utf-8-sig"), path)
    except text_err as e:
        raise ProjectFileError(
            f"{path}: 无法解析项目文件 (cannot parse): {str(e).splitlines()[0]}; "
            "save it as UTF-8 YAML or TOML"
        ) from None
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{path}: the project file must be a mapping of keys")
    _short_texts(raw, path, "")
    return raw


#: longest name or label (they are printed on maps, sheets and ledgers)
MAX_NAME = 200
#: longest text value anywhere (a WKT CRS is a few thousand characters)
MAX_TEXT = 20_000
_NAMES = ("name", "label", "name_field", "type_field", "township_field", "village_field")


def _short_texts(v, path: Path, where: str) -> None:
    """Refuse absurdly long texts (a name of two million characters) naming their key."""
    if isinstance(v, dict):
        for k, x in v.items():
            key = f"{where}.{k}" if where else str(k)
            if isinstance(x, str) and str(k) in _NAMES and len(x) > MAX_NAME:
                raise ProjectFileError(f"{path}: {key}: 名称过长 ({len(x):,} characters; at most "
                                       f"{MAX_NAME}): it is printed on maps and ledgers")
            if len(str(k)) > MAX_NAME:
                raise ProjectFileError(f"{path}: a key of {len(str(k)):,} characters in "
                                       f"{where or 'the top level'}; check the file")
            _short_texts(x, path, key)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _short_texts(x, path, f"{where}[{i}]")
    elif isinstance(v, str) and len(v) > MAX_TEXT:
        raise ProjectFileError(f"{path}: {where}: 文本过长 ({len(v):,} characters; at most "
                               f"{MAX_TEXT:,}); check the file")


