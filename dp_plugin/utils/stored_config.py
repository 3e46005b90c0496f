"""A config stored in a checkpoint (``meta['cfg']``, mmengine's dump), read as data.

A stored config is as untrusted as the file that carries it, and ``Config.fromstring``
would run it as Python: :func:`stored_config` accepts only assignments of literals.
"""
import ast

from mmengine.config import Config


def _plain_value(node: ast.expr):
    """The value of a literal expression of a dumped config: what ``ast.literal_eval``
    takes, plus the ``dict(k=v)`` calls mmengine writes; anything else raises
    ``ValueError``."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _plain_value(kw.value) for kw in node.keywords}
    if isinstance(node, (ast.List, ast.Tuple)):  # items may hold dict(...) calls
        items = [_plain_value(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_plain_value(k): _plain_value(v) for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(ast.dump(node)[:60]) from None


def stored_config(text: str, path: str) -> Config:
    """The config a runner checkpoint stores (``meta['cfg']``, mmengine's dump) read as
    plain data, never executed: a stored config is as untrusted as the file, and
    ``Config.fromstring`` would run it as Python."""
    cfg = {}
    try:
        for stmt in ast.parse(text).body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                raise ValueError(type(stmt).__name__)
            cfg[stmt.targets[0].id] = _plain_value(stmt.value)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: the config stored in the checkpoint (meta['cfg']) is not "
                         f'plain data ({err}); it was not run (export: pass --config CFG)') from None
    return Config(cfg)
