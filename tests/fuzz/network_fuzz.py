"""A fast, seeded mutation fuzzer for what reaches the exporter from the network.

Hypothesis (``test_parsers_fuzz.py``) explores shapes with shrinking; this
module is for volume: tens of thousands of cases per CI run, each a real
answer of the simulated PVS (or a real HTTP request) with a few hostile
mutations — values swapped for huge integers, NaN, lone surrogates, control
characters, wrong types, deep nesting; keys deleted or renamed; list entries
duplicated; the JSON text itself cut or corrupted. ``random.Random(seed)``
makes every run identical; a failure names its seed and case number.

Checking an exposition with ``prometheus_client``'s parser costs a few
milliseconds, too much for every case, so each one is checked with
``check_exposition`` (a strict line grammar, no duplicate series, no NaN
counters in OpenMetrics) and every ``REFERENCE_EVERY``-th also with the
reference parsers.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from typing import Any

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

REFERENCE_EVERY = 200

HUGE_INTEGERS = [10**400, -(10**400), 2**1024, 10**308 * 10, -(2**63), 2**64]
HOSTILE_TEXTS = [
    "",
    " ",
    "nan",
    "NaN",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "0x1F",
    "1_000",
    "٣",
    "²",
    " 1.5 ",
    "1,5",
    '"',
    "\\",
    "\n",
    'x"}\n# EOF\nfake 1',
    "\ud800",
    "\udfff",
    "\x00",
    "\x7f",
    "\u202e",
    "ä€😀",
    "x" * 5000,
    "9" * 5000,
    "2025-06-28T04:10:00Z",
    "2026,06,21,12,00,00",
    "9999,99,99,99,99,99",
]
FLOATS = [math.nan, math.inf, -math.inf, 1.7976931348623157e308, -0.0, 5e-324]


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(HUGE_INTEGERS)
    if roll < 0.5:
        return rng.choice(HOSTILE_TEXTS)
    if roll < 0.6:
        return rng.choice(FLOATS)
    if roll < 0.7:
        return rng.choice([None, True, False, 0, -1, 1])
    if roll < 0.8 and depth < 3:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.9 and depth < 3:
        return {rng.choice(HOSTILE_TEXTS): hostile_value(rng, depth + 1) for _ in range(2)}
    if roll < 0.95:
        nested: Any = 1
        for _ in range(rng.randint(10, 200)):
            nested = [nested]
        return nested
    return rng.uniform(-1e6, 1e6)


def _containers(doc: Any) -> list[Any]:
    """Every dict and list inside ``doc`` (``doc`` included), in document order."""
    found: list[Any] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            found.append(node)
            stack.extend(node)
    return found


def mutate(doc: Any, rng: random.Random, count: int) -> Any:
    """``doc`` (a fresh copy, changed in place) after ``count`` random mutations."""
    for _ in range(count):
        containers = _containers(doc)
        if not containers:
            return hostile_value(rng)
        node = rng.choice(containers)
        roll = rng.random()
        if isinstance(node, dict):
            if not node:
                node[rng.choice(HOSTILE_TEXTS)] = hostile_value(rng)
                continue
            key = rng.choice(list(node))
            if roll < 0.6:
                node[key] = hostile_value(rng)
            elif roll < 0.75:
                del node[key]
            elif roll < 0.85:
                node[rng.choice(HOSTILE_TEXTS) + str(key)[: rng.randint(0, 40)]] = node.pop(key)
            else:
                node[key] = rng.choice([[node[key]], {"value": node[key]}, str(node[key])])
        elif node:
            index = rng.randrange(len(node))
            if roll < 0.4:
                node[index] = hostile_value(rng)
            elif roll < 0.7:
                node.insert(rng.randrange(len(node) + 1), json.loads(json.dumps(node[index])))
            elif roll < 0.85:
                del node[index]
            else:
                rng.shuffle(node)
        else:
            node.append(hostile_value(rng))
    return doc


def corrupt_bytes(body: bytes, rng: random.Random) -> bytes:
    """The JSON text itself damaged: cut, bytes flipped, inserted or dropped."""
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        at = rng.randrange(len(data))
        roll = rng.random()
        if roll < 0.25:
            del data[at:]
        elif roll < 0.5:
            data[at] = rng.randrange(256)
        elif roll < 0.75:
            data[at:at] = rng.choice([b"\xff", b"\x00", b"\\ud800", b"1" * 5000, b"[" * 50, b'"'])
        else:
            del data[at : at + rng.randint(1, 20)]
    return bytes(data)


def dumps(doc: Any) -> bytes:
    """JSON as a PVS might send it (NaN allowed, lone surrogates passed through)."""
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


# --- exposition check -----------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_LABELS = rf"\{{(?:{_NAME}={_LABEL_VALUE}(?:,{_NAME}={_LABEL_VALUE})*,?)?\}}"
_NUMBER = r"(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|Inf)|NaN)"
_TIMESTAMP = r"(?: -?\d+(?:\.\d+)?)?"
SAMPLE = re.compile(rf"({_NAME})({_LABELS})? ({_NUMBER}){_TIMESTAMP}")
SHORT_SAMPLE = re.compile(rf"({_NAME}) ({_NUMBER}){_TIMESTAMP}")
COMMENT = re.compile(
    rf"# (?:HELP {_NAME} .*|TYPE {_NAME} (?:counter|gauge|histogram|info|untyped|unknown))"
)
OM_COMMENT = re.compile(rf"# (?:HELP|TYPE|UNIT) {_NAME}(?: .*)?")


class ExpositionChecker:
    """Checks expositions line by line; label sets already seen valid are not re-parsed.

    Mutated cases share most of their devices (and so their label strings)
    with the seed, so most lines only need their name and value checked.
    """

    def __init__(self) -> None:
        self._valid_labels: set[str] = set()

    def __call__(self, text: bytes, openmetrics: bool, reference: bool) -> int:
        """Fail unless ``text`` is a valid exposition; the number of samples.

        Valid UTF-8, every line a comment or sample of the grammar above, no
        series twice, no NaN/infinite counter in OpenMetrics (its parser
        refuses them). ``reference``: also parse with prometheus_client.
        """
        decoded = text.decode("utf-8")  # raises on invalid UTF-8
        seen: set[tuple[str, str]] = set()
        comment = OM_COMMENT if openmetrics else COMMENT
        lines = decoded.split("\n")
        assert lines[-1] == "", "the exposition must end with a newline"
        if len(self._valid_labels) > 50_000:
            self._valid_labels.clear()
        for line in lines[:-1]:
            if line.startswith("#"):
                assert comment.fullmatch(line), line[:200]
                continue
            opening = line.find("{")
            closing = line.rfind("}")
            if 0 < opening < closing and line[opening : closing + 1] in self._valid_labels:
                labels = line[opening : closing + 1]
                name = line[:opening]
                match = SHORT_SAMPLE.fullmatch(name + line[closing + 1 :])
                assert match, f"invalid sample line: {line[:200]!r}"
                value = match.group(2)
            else:
                full = SAMPLE.fullmatch(line)
                assert full, f"invalid sample line: {line[:200]!r}"
                name, labels, value = full.group(1), full.group(2) or "", full.group(3)
                if labels:
                    self._valid_labels.add(labels)
            key = (name, labels)
            assert key not in seen, f"duplicate series: {line[:200]!r}"
            seen.add(key)
            if openmetrics and name.endswith("_total"):
                assert value not in ("NaN", "+Inf", "-Inf", "Inf"), line[:200]
        if reference:
            if openmetrics:
                for _family in parse_openmetrics(decoded + "# EOF\n"):
                    pass
            else:
                for _family in parse_text(decoded):
                    pass
        return len(seen)


check_exposition = ExpositionChecker()


def run_cases(name: str, seed: int, cases: int, case: Callable[[random.Random, int], None]) -> None:
    """Run ``case`` ``cases`` times with one seeded generator; name the failing case."""
    rng = random.Random(seed)
    for number in range(cases):
        state = rng.getstate()
        try:
            case(rng, number)
        except Exception as exc:
            replay = random.Random()
            replay.setstate(state)
            raise AssertionError(
                f"{name}: case {number} of seed {seed} failed: {type(exc).__name__}: "
                f"{str(exc)[:500]}"
            ) from exc
