"""Header mapping, kind detection and the stage / activity vocabularies.

Everything CRM-specific lives in data files under ``data/mappings/`` (one alias table per kind, plus
``stages.toml`` and ``activity_kinds.toml``); this module holds the rules that apply them:

- ``normalize_header`` makes "Owner.Name", "owner name" and "OWNER_NAME" one key.
- ``guess_mapping`` proposes {source header: field} for a kind; ``detect_kind`` scores every kind.
- ``classify_stage`` / ``learn_pipeline`` understand stage names; ``normalize_activity_kind`` maps
  activity types onto call / email / meeting / visit / task / other.

Matching a header to a field, strongest first:
1. exact: the normalised header equals an alias;
2. exact after dropping a trailing "(...)" / "[...]" or a Salesforce "__c" / "__r" suffix;
3. partial: the header is an alias plus at most one extra word ("Opportunity Amount USD"), unless a
   word listed under the field's ``[exclude]`` occurs ("Weighted value" is not the amount). Headers
   that match any alias exactly never take part in partial matching.
Within a tier the earlier alias of the table wins (for partial matches the longer alias), then the
earlier column. Each field takes at most one column and each column at most one field. Last,
``[promote]`` moves a name column to the key field when no id column exists.
"""
from __future__ import annotations

import hashlib
import heapq
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from data.ingest.problems import ImportProblem

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"

KINDS: tuple[str, ...] = ("deals", "leads", "stage_history", "activities", "accounts", "reps", "targets")

ACTIVITY_KINDS: tuple[str, ...] = ("call", "email", "meeting", "visit", "task", "other")


@dataclass(frozen=True)
class Field:
    """One canonical field a column can be mapped to."""

    name: str
    required: bool
    # "id" | "text" | "date" | "datetime" | "amount" | "number" | "probability" | "period" | "status" | "currency"
    type: str


def _fields(*spec: tuple[str, bool, str]) -> tuple[Field, ...]:
    return tuple(Field(n, r, t) for n, r, t in spec)


FIELDS: dict[str, tuple[Field, ...]] = {
    "deals": _fields(
        ("deal_id", True, "id"), ("deal_name", False, "text"), ("account", False, "id"),
        ("account_name", False, "text"), ("owner", True, "id"), ("stage", False, "text"),
        ("status", False, "status"), ("amount", False, "amount"), ("currency", False, "currency"),
        ("created_on", False, "date"), ("close_date", False, "date"), ("closed_on", False, "date"),
        ("won_on", False, "date"), ("lost_on", False, "date"), ("lost_reason", False, "text"),
        ("product", False, "text"), ("probability", False, "probability"),
        ("forecast_category", False, "text"), ("source", False, "text"), ("snapshot_date", False, "date"),
    ),
    "leads": _fields(
        ("lead_id", True, "id"), ("created_on", True, "date"), ("source", False, "text"),
        ("owner", False, "id"), ("status", False, "text"), ("converted_on", False, "date"),
        ("deal_id", False, "id"),
    ),
    "stage_history": _fields(("deal_id", True, "id"), ("stage", True, "text"), ("entered_at", True, "datetime")),
    "activities": _fields(
        ("activity_id", False, "id"), ("owner", True, "id"), ("kind", True, "text"),
        ("occurred_at", True, "datetime"), ("account", False, "id"), ("deal_id", False, "id"),
        ("duration_min", False, "number"), ("outcome", False, "text"),
    ),
    "accounts": _fields(
        ("account", True, "id"), ("account_name", False, "text"), ("industry", False, "text"),
        ("region", False, "text"), ("size", False, "text"), ("owner", False, "id"), ("created_on", False, "date"),
    ),
    "reps": _fields(
        ("rep", True, "id"), ("rep_name", False, "text"), ("email", False, "text"), ("team", False, "text"),
        ("manager", False, "id"), ("region", False, "text"), ("hired_on", False, "date"), ("left_on", False, "date"),
    ),
    "targets": _fields(
        ("period", True, "period"), ("period_end", False, "date"), ("scope", False, "text"),
        ("owner", False, "id"), ("team", False, "text"), ("product", False, "text"),
        ("measure", False, "text"), ("value", True, "amount"),
    ),
}

# Groups of fields of which one is required (beyond the fields marked required).
REQUIRED_ANY: dict[str, list[tuple[str, ...]]] = {
    "deals": [("stage", "status", "won_on", "lost_on")],
    "leads": [], "stage_history": [], "activities": [], "accounts": [], "reps": [], "targets": [],
}

# File-name words that point at a kind, most specific kind first ("OpportunityHistory" is history).
_NAME_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stage_history", ("history", "stagehistory", "阶段历史", "阶段变更", "geçmiş", "tarihçe")),
    ("activities", ("task", "event", "activit", "call", "meeting", "engagement", "telephony",
                    "跟进", "拜访", "活动", "aktivite", "görüşme")),
    ("targets", ("target", "quota", "goal", "目标", "指标", "hedef", "kota")),
    ("leads", ("lead", "mql", "线索", "aday", "potansiyel")),
    ("reps", ("user", "reps", "rep", "team", "staff", "employee", "员工", "用户", "销售团队", "personel",
              "temsilci", "ekip")),
    ("accounts", ("account", "compan", "customer", "client", "seller", "客户", "公司", "müşteri", "hesap",
                  "firma")),
    ("deals", ("opportunit", "deal", "order", "pipeline", "商机", "机会", "订单", "fırsat", "sipariş")),
)

_REQ_WEIGHT, _SPEC_WEIGHT, _COVER_WEIGHT = 0.45, 0.3, 0.25
# Required fields users often give as one value for the whole file (the owner of a Superstore-like
# order list) count less when absent, so such files still read as deals rather than accounts.
_GROUP_WEIGHTS: dict[tuple[str, str], float] = {("deals", "owner"): 0.5}
_PROMOTED_CREDIT = 0.75     # a key found only through a name column is weaker evidence
_HINT_BONUS = 0.1
_MAX_EXTRA_WORDS = 1
_MIN_PARTIAL_LATIN, _MIN_PARTIAL_CJK = 6, 3


# ----------------------------------------------------------------------------------- normalisation
_REMOVE = re.compile(r"[\s_\-./():*\"'`\u00b7\u30fb\u2010-\u2015\u200b-\u200d\u2060\ufeff]+")
_CJK = re.compile(r"[\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_TRAILING_BRACKET = re.compile(r"\s*[\(\[][^()\[\]]*[\)\]]\s*$")
_SF_SUFFIX = re.compile(r"__[cr]$", re.IGNORECASE)


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold().replace("\u0307", "").replace("\u0131", "i")
    return unicodedata.normalize("NFKC", _REMOVE.sub("", s))


def normalize_header(h: str) -> str:
    """Comparable form of a header: no BOM/spaces/`_ - . / ( ) :`, NFKC, case-folded; CJK kept.

    Turkish dotted and dotless i fold to "i" (Python folds "I" to "i", Turkish to "ı"), so
    "FIRSAT ADI" and "Fırsat Adı" are the same header.
    """
    s = str(h)
    for _ in range(4):
        folded = _fold(s)
        if folded == s:
            break
        s = folded
    return s


def header_key(headers: list[str]) -> str:
    """Stable key of a header set (order-insensitive) under which a confirmed mapping is saved."""
    joined = "\x1f".join(sorted(normalize_header(h) for h in headers))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def _split_chunk(chunk: str) -> list[str]:
    """Split a run of word characters into words: CJK characters one by one, camelCase and digits apart."""
    words: list[str] = []
    cur = ""
    for i, ch in enumerate(chunk):
        if _CJK.match(ch):
            if cur:
                words.append(cur)
            words.append(ch)
            cur = ""
            continue
        if cur:
            prev = cur[-1]
            nxt = chunk[i + 1] if i + 1 < len(chunk) else ""
            boundary = (
                (prev.islower() and ch.isupper())
                or (prev.isdigit() != ch.isdigit())
                or (prev.isupper() and ch.isupper() and nxt.islower())
            )
            if boundary:
                words.append(cur)
                cur = ""
        cur += ch
    if cur:
        words.append(cur)
    return words


def _tokens(text: str) -> tuple[str, ...]:
    """Normalised words of a header or value ("OwnerId" -> owner, id; "商机金额" -> 商, 机, 金, 额)."""
    s = unicodedata.normalize("NFKC", str(text))
    out: list[str] = []
    for chunk in re.split(r"[\W_]+", s):
        for word in _split_chunk(chunk):
            n = normalize_header(word)
            if n:
                out.append(n)
    return tuple(out)


def _span_extra(tokens: Sequence[str], phrase: str) -> int | None:
    """Fewest words of ``tokens`` left over when ``phrase`` is a run of them joined; None if it is not."""
    best: int | None = None
    for i in range(len(tokens)):
        acc = ""
        for j in range(i, len(tokens)):
            acc += tokens[j]
            if acc == phrase:
                extra = len(tokens) - (j - i + 1)
                best = extra if best is None else min(best, extra)
                break
            if len(acc) >= len(phrase) or not phrase.startswith(acc):
                break
    return best


# ------------------------------------------------------------------------------------ alias tables
@dataclass(frozen=True)
class _KindTable:
    aliases: dict[str, tuple[str, ...]]              # field -> normalised aliases, best first
    exclude: dict[str, tuple[str, ...]]              # field -> words forbidding a partial match
    promote: dict[str, str]                          # key field -> field whose column may stand in
    defaults: dict[str, tuple[str, frozenset[str]]]  # field -> (value, header shapes that call for it)
    index: dict[str, tuple[tuple[str, int], ...]]    # normalised alias -> (field, rank) pairs


def _read_toml(name: str) -> dict[str, Any]:
    with (MAPPINGS_DIR / name).open("rb") as fh:
        return tomllib.load(fh)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for v in values:
        n = normalize_header(v)
        if n:
            seen.setdefault(n, None)
    return tuple(seen)


@lru_cache(maxsize=None)
def _table(kind: str) -> _KindTable:
    """The alias table of a kind, loaded once from data/mappings/<kind>.toml."""
    _check_kind(kind)
    raw = _read_toml(f"{kind}.toml")
    names = set(field_names(kind))
    aliases = {f: _dedupe(v) for f, v in raw.get("aliases", {}).items()}
    unknown = (set(aliases) | set(raw.get("exclude", {})) | set(raw.get("promote", {}))
               | set(raw.get("defaults", {}))) - names
    if unknown:
        raise ValueError(f"{kind}.toml names unknown fields: {sorted(unknown)}")
    index: dict[str, list[tuple[str, int]]] = {}
    for f, values in aliases.items():
        for rank, alias in enumerate(values):
            index.setdefault(alias, []).append((f, rank))
    defaults = {f: (str(d["value"]), frozenset(normalize_header(h) for h in d.get("when_any", [])))
                for f, d in raw.get("defaults", {}).items()}
    return _KindTable(
        aliases=aliases,
        exclude={f: _dedupe(v) for f, v in raw.get("exclude", {}).items()},
        promote=dict(raw.get("promote", {})),
        defaults=defaults,
        index={k: tuple(v) for k, v in index.items()},
    )


def _check_kind(kind: str) -> None:
    if kind not in FIELDS:
        raise ImportProblem("kind_invalid", kind=kind, kinds=", ".join(KINDS))


def field_names(kind: str) -> list[str]:
    """The canonical fields of a kind, in the order a mapping table shows them."""
    _check_kind(kind)
    return [f.name for f in FIELDS[kind]]


# --------------------------------------------------------------------------------------- mapping
def _variants(header: str) -> set[str]:
    """Weaker exact forms of a header: without a trailing bracket group or a Salesforce suffix."""
    text = unicodedata.normalize("NFKC", str(header)).strip()
    out: set[str] = set()
    stripped = text
    while _TRAILING_BRACKET.search(stripped):
        stripped = _TRAILING_BRACKET.sub("", stripped)
        out.add(normalize_header(stripped))
    if _SF_SUFFIX.search(text.rstrip()):
        out.add(normalize_header(_SF_SUFFIX.sub("", text.rstrip())))
    out.discard("")
    return out


def _min_partial(alias: str) -> bool:
    cjk = len(_CJK.findall(alias))
    return cjk >= _MIN_PARTIAL_CJK if cjk else len(alias) >= _MIN_PARTIAL_LATIN


def _partial(tokens: Sequence[str], alias: str) -> bool:
    extra = _span_extra(tokens, alias)
    return extra is not None and extra <= _MAX_EXTRA_WORDS


def _excluded(tokens: Sequence[str], words: Iterable[str]) -> bool:
    return any(_span_extra(tokens, w) is not None for w in words)


_Candidate = tuple[tuple[int, int, int], str, str]   # (score, header, field)


@lru_cache(maxsize=65536)
def _header_matches(header: str, kind: str) -> tuple[tuple[int, int, str], ...]:
    """(tier, strength, field) for every field one header could fill; independent of other columns."""
    table = _table(kind)
    norm = normalize_header(header)
    direct = table.index.get(norm, ())
    weaker = [pair for v in _variants(header) if v != norm for pair in table.index.get(v, ())]
    if direct or weaker:
        return tuple([(3, -rank, f) for f, rank in direct] + [(2, -rank, f) for f, rank in weaker])
    tokens = _tokens(header)
    joined = "".join(tokens)
    out: list[tuple[int, int, str]] = []
    for f, aliases in table.aliases.items():
        matched = [a for a in aliases if a in joined and _min_partial(a) and _partial(tokens, a)]
        if matched and not _excluded(tokens, table.exclude.get(f, ())):
            out.append((1, max(len(a) for a in matched), f))
    return tuple(out)


def _candidates(headers: Sequence[str], kind: str) -> list[_Candidate]:
    """Every plausible (header, field) pair with its score; higher scores are better."""
    out: list[_Candidate] = []
    seen: set[str] = set()
    for col, header in enumerate(headers):
        if header in seen or not normalize_header(header):
            continue
        seen.add(header)
        out.extend(((tier, strength, -col), header, f) for tier, strength, f in _header_matches(header, kind))
    return out


def _guess(headers: Sequence[str], kind: str) -> tuple[dict[str, str], frozenset[str]]:
    """The mapping for a kind and the key fields it filled by promotion."""
    table = _table(kind)
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for _, header, f in sorted(_candidates(headers, kind), key=lambda c: c[0], reverse=True):
        if header in chosen or f in taken:
            continue
        chosen[header] = f
        taken.add(f)
    promoted: set[str] = set()
    for key, stand_in in table.promote.items():
        if key not in taken and stand_in in taken:
            header = next(h for h, f in chosen.items() if f == stand_in)
            chosen[header] = key
            taken.discard(stand_in)
            taken.add(key)
            promoted.add(key)
    order = {h: i for i, h in enumerate(headers)}
    return dict(sorted(chosen.items(), key=lambda kv: order[kv[0]])), frozenset(promoted)


def guess_mapping(headers: list[str], kind: str) -> dict[str, str]:
    """Propose {source header: field} for ``kind``; unmapped headers are left out."""
    return _guess(headers, kind)[0]


def could_be(header: str, kind: str, field: str) -> bool:
    """True when the header's name matches one of the field's aliases (e.g. a deal-name column)."""
    return any(f == field for _, _, f in _header_matches(header, kind))


def default_for(kind: str, headers: list[str]) -> dict[str, str]:
    """Fixed values for fields no column provides, when the file's shape implies them.

    A Salesforce Event export (DurationInMinutes, StartDateTime, ...) has no type column: every row
    is a meeting, so activities get ``{"kind": "meeting"}``.
    """
    return _defaults(kind, headers, set(guess_mapping(headers, kind).values()))


def _defaults(kind: str, headers: Sequence[str], mapped: set[str]) -> dict[str, str]:
    present = {normalize_header(h) for h in headers}
    return {f: value for f, (value, shapes) in _table(kind).defaults.items() if f not in mapped and present & shapes}


def missing_required(mapping: Mapping[str, str], kind: str) -> list[str]:
    """Required fields (or groups, joined with " / ") that no column of ``mapping`` provides."""
    _check_kind(kind)
    mapped = set(mapping.values())
    missing = [f.name for f in FIELDS[kind] if f.required and f.name not in mapped]
    missing += [" / ".join(group) for group in REQUIRED_ANY[kind] if not mapped & set(group)]
    return missing


# -------------------------------------------------------------------------------- kind detection
@lru_cache(maxsize=None)
def _specific_fields(kind: str) -> frozenset[str]:
    """Fields only this kind has: the strongest evidence that a file is of this kind."""
    others = {f.name for k, fs in FIELDS.items() if k != kind for f in fs}
    return frozenset(f.name for f in FIELDS[kind] if f.name not in others)


def _name_hint(filename: str | None) -> str | None:
    if not filename:
        return None
    stem = Path(str(filename)).stem
    words = _tokens(stem)
    folded = normalize_header(stem)
    for kind, hints in _NAME_HINTS:
        for hint in hints:
            if _CJK.search(hint):
                if hint in folded:
                    return kind
            elif any(w == hint or (len(hint) >= 4 and w.startswith(hint)) for w in words):
                return kind
    return None


def _kind_score(headers: Sequence[str], kind: str) -> float:
    """0..1: required fields found (most weight), kind-specific fields found, share of columns used."""
    mapping, promoted = _guess(headers, kind)
    mapped = set(mapping.values())
    mapped |= set(_defaults(kind, headers, mapped))
    groups = [(f.name,) for f in FIELDS[kind] if f.required] + REQUIRED_ANY[kind]
    credit = total = 0.0
    for group in groups:
        weight = _GROUP_WEIGHTS.get((kind, group[0]), 1.0)
        total += weight
        found = [f for f in group if f in mapped]
        if found:
            credit += weight * (1.0 if any(f not in promoted for f in found) else _PROMOTED_CREDIT)
    required = credit / total
    specific = _specific_fields(kind)
    spec = len((mapped - promoted) & specific) / min(3, len(specific)) if specific else 0.0
    used = [h for h in headers if normalize_header(h)]
    cover = len(mapping) / len(set(used)) if used else 0.0
    return _REQ_WEIGHT * required + _SPEC_WEIGHT * min(1.0, spec) + _COVER_WEIGHT * min(1.0, cover)


def detect_kind(headers: list[str], filename: str | None = None) -> list[tuple[str, float]]:
    """Every kind with a score 0..1, best first; a file-name hint adds a little to its kind."""
    hint = _name_hint(filename)
    scored = []
    for order, kind in enumerate(KINDS):
        score = _kind_score(headers, kind) if any(normalize_header(h) for h in headers) else 0.0
        if kind == hint and score > 0:
            score = min(1.0, score + _HINT_BONUS)
        scored.append((-round(score, 4), kind != hint, order, kind))
    return [(kind, -neg) for neg, _, _, kind in sorted(scored)]


# ---------------------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class StageDef:
    """One stage of the pipeline."""

    name: str
    position: int
    probability: float | None
    is_won: bool
    is_lost: bool


@dataclass(frozen=True)
class _KnownStage:
    fraction: float         # index on a 0..1 scale, comparable across pipelines
    probability: float | None
    outcome: str            # won | lost | open


@dataclass(frozen=True)
class _StageVocab:
    won: frozenset[str]
    lost: frozenset[str]
    won_words: tuple[str, ...]
    lost_words: tuple[str, ...]
    negations: frozenset[str]
    pipelines: tuple[dict[str, _KnownStage], ...]   # per known pipeline: normalised name -> stage


@lru_cache(maxsize=1)
def _stage_vocab() -> _StageVocab:
    raw = _read_toml("stages.toml")
    cls = raw["classify"]
    pipelines: list[dict[str, _KnownStage]] = []
    for pipe in raw.get("pipelines", []):
        stages = pipe["stages"]
        n_open = sum(1 for s in stages if not s.get("won") and not s.get("lost")) or 1
        table: dict[str, _KnownStage] = {}
        open_i = 0
        for s in stages:
            outcome = "won" if s.get("won") else "lost" if s.get("lost") else "open"
            prob = s.get("probability")
            idx = open_i if outcome == "open" else n_open
            table[normalize_header(s["name"])] = _KnownStage(
                (idx + 0.5) / n_open if outcome == "open" else 1.0,
                None if prob is None else float(prob) / 100.0, outcome)
            open_i += outcome == "open"
        pipelines.append(table)
    return _StageVocab(
        won=frozenset(_dedupe(cls["won"])), lost=frozenset(_dedupe(cls["lost"])),
        won_words=_dedupe(cls["won_words"]), lost_words=_dedupe(cls["lost_words"]),
        negations=frozenset(_dedupe(cls["negations"])), pipelines=tuple(pipelines),
    )


def _has_word(tokens: Sequence[str], words: Iterable[str], negations: frozenset[str]) -> bool:
    """Whether a word occurs as a run of tokens and is not preceded by a negation."""
    for w in words:
        for i in range(len(tokens)):
            acc = ""
            for j in range(i, len(tokens)):
                acc += tokens[j]
                if acc == w:
                    if not (i > 0 and tokens[i - 1] in negations):
                        return True
                    break
                if len(acc) >= len(w):
                    break
    return False


@lru_cache(maxsize=8192)
def _classify(name: str) -> str:
    norm = normalize_header(name)
    if not norm:
        return "open"
    voc = _stage_vocab()
    if norm in voc.lost:
        return "lost"
    if norm in voc.won:
        return "won"
    for pipe in voc.pipelines:
        if norm in pipe and pipe[norm].outcome != "open":
            return pipe[norm].outcome
    tokens = _tokens(name)
    if _has_word(tokens, voc.lost_words, voc.negations):
        return "lost"
    if _has_word(tokens, voc.won_words, voc.negations):
        return "won"
    return "open"


def classify_stage(name: str | None) -> str:
    """"won", "lost" or "open" for a stage name in English, Chinese or Turkish, or a CRM internal id."""
    return "open" if name is None else _classify(str(name))


def _best_pipeline(norms: Iterable[str]) -> int | None:
    voc = _stage_vocab()
    names = set(norms)
    counts = [len(names & set(p)) for p in voc.pipelines]
    if not counts or max(counts) == 0:
        return None
    return counts.index(max(counts))


def _known(norm: str, best: int | None) -> _KnownStage | None:
    """The stage in the best-matching known pipeline, else in the first pipeline that has it."""
    voc = _stage_vocab()
    if best is not None and norm in voc.pipelines[best]:
        return voc.pipelines[best][norm]
    return next((p[norm] for p in voc.pipelines if norm in p), None)


_HISTORY_SAMPLE_DEALS = 200_000


def _history_edges(history: pl.DataFrame, keys: Mapping[str, str]) -> list[tuple[str, str, int]]:
    """Stage pairs as deals entered them: (a, b, margin) when more deals entered a before b than after.

    ``keys`` maps raw stage names to the normalised names of the stages being ordered; a deal counts
    by the first time it entered each stage. Very large histories are sampled by deal.
    """
    h = history.select(
        pl.col("deal_id").cast(pl.String), pl.col("stage").cast(pl.String), pl.col("entered_at")
    ).drop_nulls()
    h = h.with_columns(pl.col("stage").replace_strict(dict(keys), default=None, return_dtype=pl.String).alias("key"))
    h = h.drop_nulls("key").group_by("deal_id", "key").agg(pl.col("entered_at").min())
    if h.height and h.select(pl.col("deal_id").n_unique()).item() > _HISTORY_SAMPLE_DEALS:
        h = h.filter(pl.col("deal_id").hash(seed=7) % 8 == 0)
    if h.height == 0:
        return []
    pairs = (
        h.join(h, on="deal_id", suffix="_b")
        .filter(pl.col("key") != pl.col("key_b"))
        .group_by("key", "key_b")
        .agg(((pl.col("entered_at") < pl.col("entered_at_b")).cast(pl.Int64).sum()
              - (pl.col("entered_at") > pl.col("entered_at_b")).cast(pl.Int64).sum()).alias("margin"))
        .filter(pl.col("margin") > 0)
        .sort(["margin", "key", "key_b"], descending=[True, False, False])
    )
    return [(a, b, int(m)) for a, b, m in pairs.iter_rows()]


def _reaches(succ: Mapping[str, set[str]], start: str, goal: str) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in succ[node] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return False


def _order(existing: Sequence[str], new: Sequence[str], coords: Mapping[str, float | None],
           edges: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Order stages: existing ones keep their sequence, history edges are obeyed where they do not
    contradict it, and otherwise stages follow their known-pipeline coordinate (existing ones first on
    ties), with stages of unknown place last in alphabetical order."""
    keys: dict[str, tuple[float, int, str]] = {}
    running = -math.inf
    for n in existing:
        c = coords.get(n)
        running = running if c is None else max(running, c)
        keys[n] = (running, 0, n.casefold())
    for n in new:
        c = coords.get(n)
        keys[n] = (math.inf if c is None else c, 1, n.casefold())
    succ: dict[str, set[str]] = {n: set() for n in keys}
    for a, b in list(zip(existing, existing[1:])) + list(edges):
        if a in succ and b in succ and a != b and b not in succ[a] and not _reaches(succ, b, a):
            succ[a].add(b)
    indegree = {n: 0 for n in keys}
    for n in keys:
        for b in succ[n]:
            indegree[b] += 1
    ready = [(keys[n], n) for n in keys if indegree[n] == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for b in succ[n]:
            indegree[b] -= 1
            if indegree[b] == 0:
                heapq.heappush(ready, (keys[b], b))
    return out


def _ramp(names: Sequence[str], probs: Mapping[str, float | None]) -> dict[str, float]:
    """Fill missing probabilities of open stages linearly between known neighbours (0 before, 1 after)."""
    known = [(i, p) for i, n in enumerate(names) if (p := probs.get(n)) is not None]
    anchors = [(-1, 0.0), *known, (len(names), 1.0)]
    out: dict[str, float] = {}
    for i, n in enumerate(names):
        if probs.get(n) is not None:
            continue
        lo = max((a for a in anchors if a[0] < i), key=lambda a: a[0])
        hi = min((a for a in anchors if a[0] > i), key=lambda a: a[0])
        out[n] = round(lo[1] + (hi[1] - lo[1]) * (i - lo[0]) / (hi[0] - lo[0]), 4)
    return out


def _fresh_names(stage_names: Iterable[str | None], history: pl.DataFrame | None, seen: set[str]) -> list[str]:
    """Stage names of the upload (and its history) not yet in the pipeline, first spelling kept."""
    raw_names = list(stage_names)
    if history is not None and history.height and "stage" in history.columns:
        raw_names += history["stage"].cast(pl.String).drop_nulls().unique(maintain_order=True).to_list()
    fresh: list[str] = []
    for raw in raw_names:
        name = "" if raw is None else str(raw).strip()
        norm = normalize_header(name)
        if norm and norm not in seen:
            seen.add(norm)
            fresh.append(name)
    return fresh


def learn_pipeline(stage_names: Iterable[str], history: pl.DataFrame | None = None,
                   existing: list[StageDef] | None = None) -> list[StageDef]:
    """The full pipeline for an upload: existing stages plus new ones, won and lost stages last.

    Existing stages keep their order, probability and won/lost flags (positions are renumbered
    1..n so that new stages can sit between them). New open stages are placed by the order in which
    deals entered stages in ``history`` (columns deal_id, stage, entered_at; pairwise majority), else
    by the usual order of the known CRM pipelines in stages.toml, else alphabetically after the placed
    ones. New probabilities come from the known pipelines (won 1, lost 0), else a linear ramp between
    their neighbours.
    """
    old = sorted(existing or [], key=lambda s: s.position)
    seen = {normalize_header(s.name) for s in old}
    fresh = _fresh_names(stage_names, history, seen)
    best = _best_pipeline(seen)
    outcome = {n: classify_stage(n) for n in fresh}
    outcome.update({s.name: "won" if s.is_won else "lost" if s.is_lost else "open" for s in old})
    known = {n: _known(normalize_header(n), best) for n in outcome}
    coords = {n: (k.fraction if k else None) for n, k in known.items()}

    def section(kind: str, edges: Iterable[tuple[str, str]] = ()) -> list[str]:
        return _order([s.name for s in old if outcome[s.name] == kind], [n for n in fresh if outcome[n] == kind],
                      coords, edges)

    edges: list[tuple[str, str]] = []
    if history is not None and history.height and {"deal_id", "stage", "entered_at"} <= set(history.columns):
        by_norm = {normalize_header(n): n for n, o in outcome.items() if o == "open"}
        keys = {v: normalize_header(v) for v in history["stage"].cast(pl.String).drop_nulls().unique().to_list()
                if normalize_header(v) in by_norm}
        edges = [(by_norm[a], by_norm[b]) for a, b, _ in _history_edges(history, keys)]
    open_order = section("open", edges)
    probs: dict[str, float | None] = {s.name: s.probability for s in old}
    for n in fresh:
        k = known[n]
        probs[n] = 1.0 if outcome[n] == "won" else 0.0 if outcome[n] == "lost" else (k.probability if k else None)
    fill = _ramp(open_order, probs)
    kept = {s.name: s for s in old}
    result: list[StageDef] = []
    for pos, n in enumerate(open_order + section("won") + section("lost"), start=1):
        if n in kept:
            result.append(replace(kept[n], position=pos))
        else:
            p = probs[n]
            result.append(StageDef(n, pos, fill.get(n) if p is None else p, outcome[n] == "won", outcome[n] == "lost"))
    return result


# ------------------------------------------------------------------------------- activity kinds
@dataclass(frozen=True)
class _ActivityVocab:
    exact: dict[str, str]
    keywords: tuple[tuple[str, tuple[str, ...]], ...]


@lru_cache(maxsize=1)
def _activity_vocab() -> _ActivityVocab:
    raw = _read_toml("activity_kinds.toml")
    exact: dict[str, str] = {}
    for kind, values in raw["exact"].items():
        for v in _dedupe(values):
            exact.setdefault(v, kind)
    kw = raw["keywords"]
    return _ActivityVocab(exact, tuple((k, _dedupe(kw[k])) for k in kw["order"]))


@lru_cache(maxsize=8192)
def _activity_kind(value: str) -> str | None:
    norm = normalize_header(value)
    if not norm:
        return None
    voc = _activity_vocab()
    if norm in voc.exact:
        return voc.exact[norm]
    for kind, words in voc.keywords:
        if any(w in norm for w in words):
            return kind
    return "other"


def normalize_activity_kind(s: pl.Series) -> pl.Series:
    """Map raw activity types onto call / email / meeting / visit / task / other (empty stays null)."""
    text = s.cast(pl.String)
    table = {v: _activity_kind(v) for v in text.drop_nulls().unique().to_list()}
    if all(k == v for k, v in table.items()):
        return text.alias(s.name)          # every type is canonical already: the column itself, not a copy
    return text.replace_strict(table, default=None, return_dtype=pl.String).alias(s.name)
