"""Ranked search over the question bank: weighted fields, prefix and small-typo tolerance,
follow-ups indexed, and Chinese aliases that map common terms to their English words."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from grader.bank.questions import Question

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are do does for how in is of on or per the to what when why with".split()
)
# Where a query word is found counts this much: title and prompt beat tags, tags beat key
# points, key points beat the answer. PRESENCE counts once per word, REPEATS per hit (<= 3).
PRESENCE = {"title": 8.0, "id": 6.0, "prompt": 6.0, "tags": 4.0}
REPEATS = {"key_points": 1.5, "short": 1.0, "follow_ups": 0.5, "answer": 0.4}
TYPO = 0.6  # a word found only through a typo correction counts this share
# A few Chinese terms per area and the English words they stand for (any one may match).
ALIASES: dict[str, tuple[str, ...]] = {
    "显存": ("memory", "hbm"),
    "内存": ("memory",),
    "带宽": ("bandwidth",),
    "算子": ("kernel", "op"),
    "内核": ("kernel",),
    "共享内存": ("shared",),
    "张量核": ("tensor",),
    "投机解码": ("speculative",),
    "推测解码": ("speculative",),
    "前缀缓存": ("prefix",),
    "量化": ("quant",),  # prefix: quantization, quantisation, quantize
    "注意力": ("attention",),
    "专家并行": ("expert",),
    "混合专家": ("moe", "expert"),
    "调度": ("scheduling", "scheduler"),
    "批处理": ("batching", "batch"),
    "解码": ("decode", "decoding"),
    "预填充": ("prefill",),
    "归一化": ("norm", "normalization", "normalisation"),
    "位置编码": ("positional", "rope"),
    "旋转位置编码": ("rope", "rotary"),
    "分布式": ("distributed",),
    "通信": ("communication", "all"),
    "精度": ("precision", "numerics"),
    "性能分析": ("profiling", "profile"),
    "服务": ("serving",),
}


def _stem(word: str) -> str:
    """A plural query word also finds the singular: 'conflicts' matches 'conflict-free'."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _fields(q: Question) -> dict[str, list[str]]:
    text = {
        "title": q.title,
        "id": q.id,
        "prompt": q.prompt,
        "tags": " ".join(q.tags),
        "key_points": " ".join(q.key_points),
        "short": q.short,
        "follow_ups": " ".join(f"{f.q} {f.a}" for f in q.follow_ups),
        "answer": q.answer,
    }
    return {k: _WORD.findall(v.lower()) for k, v in text.items()}


def query_groups(text: str, vocab: set[str]) -> list[list[tuple[str, float]]]:
    """The query as groups of (word, weight) alternatives; every group must match. Chinese
    aliases become one group of their English words; an English word no bank word starts
    with gets its close spellings (difflib, ratio >= 0.8) at weight TYPO."""
    low, groups = text.lower(), []
    for term in sorted(ALIASES, key=len, reverse=True):  # longest first: 旋转位置编码
        if term in low:
            low = low.replace(term, " ")
            groups.append([(w, 1.0) for w in ALIASES[term]])
    words = [_stem(w) for w in _WORD.findall(low)]
    for w in dict.fromkeys([w for w in words if w not in _STOP] or words):  # each word once
        alts = [(w, 1.0)]
        if len(w) >= 4 and not any(v.startswith(w) for v in vocab):
            alts += [(c, TYPO) for c in difflib.get_close_matches(w, sorted(vocab), 3, 0.8)]
        groups.append(alts)
    return groups


def _word_score(fields: dict[str, list[str]], w: str) -> float:
    hits = {k: sum(t.startswith(w) for t in toks) for k, toks in fields.items()}
    return sum(wt for k, wt in PRESENCE.items() if hits[k]) + sum(
        wt * min(3, hits[k]) for k, wt in REPEATS.items()
    )


def search(questions: Iterable[Question], text: str) -> list[tuple[float, Question]]:
    """Ranked matches, best first; a question matches when every query group has a word that
    starts a word of it. A match always scores above 0; the whole query equal to or inside
    the id, or inside the title, adds a bonus."""
    questions = list(questions)
    indexed = [(q, _fields(q)) for q in questions]
    vocab = {t for _, f in indexed for toks in f.values() for t in toks}
    groups = query_groups(text, vocab)
    if not groups:
        return []
    plain = [_stem(w) for w in _WORD.findall(text.lower())]
    slug, phrase = "-".join(plain), " ".join(plain)
    ranked = []
    for q, fields in indexed:
        best = [max(wt * _word_score(fields, w) for w, wt in alts) for alts in groups]
        if not all(best):
            continue
        score = sum(best)
        if plain:
            score += 40.0 if slug == q.id else 8.0 if slug in q.id else 0.0
            score += 8.0 if phrase in " ".join(fields["title"]) else 0.0
        ranked.append((score, q))
    ranked.sort(key=lambda sq: (-sq[0], sq[1].id))
    return ranked
