"""Table-driven state-dict renames, applied in either direction.

A :class:`KeyMap` is an ordered table of :class:`Rule` ``(upstream, native)`` names: a
name ending in ``.`` is a prefix (what follows it is kept, or renamed by the rule's
nested map), any other name is a whole key. The converters write each mapping once, as
a table, and read it upstream -> native (:meth:`KeyMap.to_native`) or inverted
(:meth:`KeyMap.to_upstream`); the first rule that matches a key wins.
"""
from typing import Dict, Iterable, NamedTuple, Optional, Set, Tuple, Union

import torch

Tensor = torch.Tensor
StateDict = Dict[str, Tensor]


class Rule(NamedTuple):
    """One rename: ``upstream`` <-> ``native`` (prefixes when they end in ``.``).

    ``inner`` renames what follows the prefixes (a key it does not know is an error);
    ``linear_as_conv`` marks a ``weight`` that is an ``nn.Linear`` ``(O, I)`` upstream and
    a 1x1 convolution ``(O, I, 1, 1)`` in the native model.
    """
    upstream: str
    native: str
    inner: Optional['KeyMap'] = None
    linear_as_conv: bool = False


class KeyMap:
    """An ordered table of :class:`Rule` s.

    Args:
        rules: The renames, as :class:`Rule` or ``(upstream, native)`` pairs.
        what (str, optional): Name of the mapped part for error messages. With it a key
            no rule covers is an error; without it the key is left to the caller
            (neither converted nor counted as used).
    """

    def __init__(self, rules: Iterable[Union[Rule, Tuple[str, str]]],
                 what: Optional[str] = None) -> None:
        self.rules = tuple(r if isinstance(r, Rule) else Rule(*r) for r in rules)
        self.what = what

    def to_native(self, state_dict: StateDict) -> Tuple[StateDict, Set[str]]:
        """``(converted, keys used)`` of the upstream keys the rules cover."""
        return self._convert(state_dict, inverse=False)

    def to_upstream(self, state_dict: StateDict) -> Tuple[StateDict, Set[str]]:
        """``(converted, keys used)`` of the native keys the rules cover."""
        return self._convert(state_dict, inverse=True)

    def convert_key(self, key: str, value: Tensor,
                    inverse: bool) -> Optional[Tuple[str, Tensor]]:
        """``(key, value)`` renamed by the first matching rule, or None if none matches."""
        for rule in self.rules:
            src, dst = (rule.native, rule.upstream) if inverse else (rule.upstream, rule.native)
            if src.endswith('.') and key.startswith(src):
                rest = key[len(src):]
            elif key == src:
                rest = ''
            else:
                continue
            if rule.inner is not None:
                renamed = rule.inner.convert_key(rest, value, inverse)
                if renamed is None:
                    raise KeyError(f'unexpected {rule.inner.what or "nested"} key {rest!r} '
                                   f'(in {key!r})')
                rest, value = renamed
            elif rule.linear_as_conv and rest == 'weight':
                value = _as_linear(value) if inverse else _as_conv(value)
            return dst + rest, value
        return None

    def _convert(self, state_dict: StateDict, inverse: bool) -> Tuple[StateDict, Set[str]]:
        out: StateDict = {}
        used = set()
        for key, value in state_dict.items():
            renamed = self.convert_key(key, value, inverse)
            if renamed is None:
                if self.what:
                    raise KeyError(f'unexpected {self.what} key {key!r}')
                continue
            out[renamed[0]] = renamed[1]
            used.add(key)
        return out, used


def _as_conv(weight: Tensor) -> Tensor:
    return weight[:, :, None, None] if weight.dim() == 2 else weight


def _as_linear(weight: Tensor) -> Tensor:
    return weight[:, :, 0, 0] if weight.dim() == 4 else weight


def sub_dict(state_dict: StateDict, prefix: str) -> StateDict:
    """The entries under ``prefix``, with ``prefix`` removed from their keys."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def strip_module(state_dict: StateDict) -> StateDict:
    """``state_dict`` without the ``module.`` prefix of a ``DataParallel`` checkpoint."""
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()}


def check_all_used(state_dict: StateDict, used: Set[str], what: str) -> None:
    """Raise ``KeyError`` naming the keys of ``state_dict`` that no mapping used."""
    left = sorted(set(state_dict) - used)
    if left:
        raise KeyError(f'{len(left)} {what} keys have no mapping, e.g. {left[:5]}')
