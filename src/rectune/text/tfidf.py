"""TF-IDF over item text, written once: the `Tfidf` vectoriser and the `TokenVocab` token bags.

Both weigh terms by the smoothed inverse document frequency of scikit-learn's
``TfidfVectorizer`` (`smooth_idf`: ``ln((1 + n) / (1 + df)) + 1``) and scale rows to unit l2
norm. `Tfidf` (word n-grams, sublinear tf) gives `rectune.models.knn.ContentKNN` its item
vectors; `TokenVocab` (words, genre phrases and decades as a set per text) gives the text
model's item tower its sparse bag.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: Bigrams never span these separators ("Title | Genre, Genre | tags: a, b").
_SEGMENT = re.compile(r"[|,;]")
_WORD = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def smooth_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """``ln((1 + n_docs) / (1 + df)) + 1`` per term (scikit-learn's ``smooth_idf``)."""
    return np.log((1.0 + n_docs) / (1.0 + np.asarray(df, dtype=np.float64))) + 1.0


class Tfidf:
    """TF-IDF vectoriser (numpy/scipy only), close to scikit-learn's ``TfidfVectorizer``.

    Lower-cased tokens of two or more word characters, n-grams up to ``ngram_max`` within
    segments separated by ``|``, ``,`` or ``;``; ``tf = 1 + ln(count)``,
    ``idf = ln((1 + n) / (1 + df)) + 1``; rows scaled to unit l2 norm.

    Examples
    --------
    >>> tf = Tfidf().fit(["Toy Story | Animation", "Heat | Crime", "Toy Soldiers | War"])
    >>> x = tf.transform(["Toy Story 2 | Animation"])
    >>> x.shape[0], round(float(x.multiply(x).sum()), 6)
    (1, 1.0)
    """

    vocabulary_: np.ndarray
    idf_: np.ndarray

    def __init__(self, ngram_max: int = 2, min_df: int = 1) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self._lookup: dict[str, int] | None = None
        """Cache: term -> column, built on the first `transform`."""

    def analyze(self, text: str) -> list[str]:
        """The terms of one text (unigrams, then n-grams within segments)."""
        out: list[str] = []
        for seg in _SEGMENT.split(str(text).lower()):
            toks = _TOKEN.findall(seg)
            out.extend(toks)
            for n in range(2, self.ngram_max + 1):
                out.extend(" ".join(toks[k : k + n]) for k in range(len(toks) - n + 1))
        return out

    def fit(self, texts: Iterable[str]) -> Tfidf:
        docs = [self.analyze(t) for t in texts]
        df = Counter(term for doc in docs for term in set(doc))
        vocab = sorted(t for t, c in df.items() if c >= self.min_df)
        self.vocabulary_ = np.array(vocab, dtype=np.str_)
        self.idf_ = smooth_idf(np.array([df[t] for t in vocab], dtype=np.float64), len(docs))
        self._lookup = None
        return self

    def restore(self, vocabulary: np.ndarray, idf: np.ndarray) -> Tfidf:
        """Set a fitted vocabulary and idf (after loading an artifact)."""
        self.vocabulary_, self.idf_, self._lookup = vocabulary, idf, None
        return self

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """l2-normalised TF-IDF rows; terms outside the vocabulary are ignored."""
        if self._lookup is None:
            self._lookup = {str(t): k for k, t in enumerate(self.vocabulary_)}
        lookup = self._lookup
        indptr, indices, counts = [0], [], []
        for text in texts:
            c = Counter(lookup[t] for t in self.analyze(text) if t in lookup)
            indices.extend(c.keys())
            counts.extend(c.values())
            indptr.append(len(indices))
        idx = np.asarray(indices, dtype=np.int32)
        tf = 1.0 + np.log(np.asarray(counts, dtype=np.float64))
        out = sp.csr_matrix(
            (tf * self.idf_[idx], idx, np.asarray(indptr)),
            shape=(len(indptr) - 1, len(self.vocabulary_)),
        )
        out.sort_indices()
        return l2_rows(out)


def text_tokens(text: str) -> set[str]:
    """Lower-cased words, multi-word comma phrases (``p:science fiction``) and decades."""
    t = text.lower()
    out = set(_WORD.findall(t))
    for seg in t.split("|"):
        seg = seg.split(":", 1)[1] if seg.strip().startswith("tags:") else seg
        for phrase in seg.split(","):
            p = " ".join(phrase.split())
            if " " in p and len(p) < 40:
                out.add("p:" + p)
    out.update("decade:" + y[:3] for y in _YEAR.findall(t))
    return out


class TokenVocab:
    """Token -> column with IDF weights, built from a catalogue's texts (df >= ``min_df``)."""

    def __init__(self, tokens: np.ndarray, idf: np.ndarray) -> None:
        self.tokens = tokens
        self.idf = idf.astype(np.float32)
        self.index = {t: i for i, t in enumerate(tokens.tolist())}
        self._memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def build(cls, texts: Sequence[str], max_tokens: int, min_df: int = 2) -> TokenVocab:
        counts: dict[str, int] = {}
        for text in texts:
            for tok in text_tokens(text):
                counts[tok] = counts.get(tok, 0) + 1
        kept = sorted((t for t, c in counts.items() if c >= min_df), key=lambda t: (-counts[t], t))
        kept = kept[:max_tokens]
        df = np.array([counts[t] for t in kept], dtype=np.float64)
        return cls(np.array(kept, dtype=str), smooth_idf(df, len(texts)))

    def __len__(self) -> int:
        return len(self.tokens)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        hit = self._memo.get(text)
        if hit is None:
            cols = np.array(sorted(self.index[t] for t in text_tokens(text) if t in self.index))
            cols = cols.astype(np.int64)
            w = self.idf[cols] if len(cols) else np.zeros(0, np.float32)
            norm = float(np.sqrt((w**2).sum()))
            hit = (cols, (w / norm).astype(np.float32) if norm > 0 else w)
            self._memo[text] = hit
        return hit

    def bags(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (indptr, columns, L2-normalised TF-IDF weights) of ``texts``."""
        rows = [self.row(t) for t in texts]
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(r[0]) for r in rows])
        cols = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
        w = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
        return ptr, cols.astype(np.int64), w.astype(np.float32)


def row_sums(m: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per-row sums of ``values`` laid out like ``m.data`` (empty rows: 0)."""
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return np.bincount(rows, weights=values, minlength=m.shape[0])


def l2_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with every non-empty row scaled to unit l2 norm (in place)."""
    norms = np.sqrt(row_sums(m, m.data**2))
    norms[norms == 0] = 1.0
    m.data = m.data / np.repeat(norms, np.diff(m.indptr))
    return m
