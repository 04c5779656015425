"""The three PATCH flavours of the Kubernetes API, as the API server applies them (the parts used).

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, lists are replaced whole.
* Strategic merge patch: like merge patch, but lists with a patch merge key (containers by
  ``name``, ports by ``containerPort``/``port``, ...) merge element by element, and an element
  ``{"$patch": "delete", <key>: ...}`` removes one. ``$setElementOrder`` directives are ignored.
* JSON patch (RFC 6902): add, replace, remove, test on JSON pointers.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "conditions": "type",
    "imagePullSecrets": "name",
}


class PatchError(ValueError):
    """The patch cannot be applied (the API server answers 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list):
        return _merge_list(target if isinstance(target, list) else [], patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _merge_list(target: list[Any], patch: list[Any], field: str) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if field == "ports" and patch and isinstance(patch[0], dict):
        key = "containerPort" if "containerPort" in patch[0] else "port"
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        position = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
        elif position is None:
            result.append(copy.deepcopy(item))
        else:
            result[position] = strategic_merge_patch(result[position], item, field)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"bad JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchError(f"path /{'/'.join(parts)} does not exist") from exc
    return node


def json_patch(document: Any, operations: list[dict[str, Any]]) -> Any:
    result = copy.deepcopy(document)
    for op in operations:
        parts = _pointer(op["path"])
        if not parts:
            raise PatchError("patching the whole document is not supported")
        parent, last = _parent(result, parts), parts[-1]
        kind = op["op"]
        if kind in ("add", "replace"):
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, value)
                else:
                    parent[index] = value
            elif isinstance(parent, dict):
                if kind == "replace" and last not in parent:
                    raise PatchError(f"replace: {op['path']} does not exist")
                parent[last] = value
            else:
                raise PatchError(f"{op['path']}: parent is not a container")
        elif kind == "remove":
            try:
                del parent[int(last) if isinstance(parent, list) else last]
            except (KeyError, IndexError) as exc:
                raise PatchError(f"remove: {op['path']} does not exist") from exc
        elif kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise PatchError(f"test failed at {op['path']}")
        else:
            raise PatchError(f"unsupported op {kind!r}")
    return result
