"""Recipe: a local GPT-2 checkpoint as the encoder of rectune's text recommender.

Embed each user's history (``user_tower="text"``: the joined titles of their recent items) and
each item's text with a decoder LLM (last-token pooling), fine-tune it with LoRA on the
interactions, and recommend by embedding similarity. See docs/llm.md for the walk-through.

So that it runs anywhere offline, the script builds its own tiny random GPT-2: a byte-level BPE
tokenizer trained on the catalogue's texts and a 2-layer GPT-2 of width 32, saved with
``save_pretrained`` into a directory. Point ``--encoder`` at a real local checkpoint directory
(``gpt2``, ``distilgpt2``, ...) for real use; nothing is ever downloaded.

Usage::

    python examples/gpt2_recipe.py                      # synthetic data, tiny GPT-2
    python examples/gpt2_recipe.py --data /path/to/ml-100k --max-pairs 2000
    python examples/gpt2_recipe.py --encoder /path/to/gpt2 --data /path/to/ml-100k
    python examples/gpt2_recipe.py --data /path/to/ml-100k --save-encoder /tmp/tiny-gpt2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rectune.data import Interactions
from rectune.data.loaders import load
from rectune.data.synthetic import generate
from rectune.models.text import TextRecommender
from rectune.registry.artifacts import load_model

EOS = "<|endoftext|>"


def build_tiny_gpt2(path: str | Path, texts: list[str], *, vocab_size: int = 512) -> str:
    """Write a random 2-layer GPT-2 with a byte-level BPE tokenizer trained on ``texts``
    (GPT-2's own scheme: no pad token, ``<|endoftext|>`` as BOS/EOS) to ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(texts, trainer)
    tok = GPT2TokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS)
    torch.manual_seed(0)
    eos = tok.eos_token_id
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=256,
                     bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    GPT2Model(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def leave_last_out(data: Interactions) -> tuple[Interactions, Interactions]:
    """Each user's last interaction (by time) as the test row; users with one row train only."""
    order = np.lexsort((np.arange(len(data)), data.timestamps, data.users))
    last = np.zeros(len(data), bool)
    ends = np.r_[np.flatnonzero(np.diff(data.users[order])), len(data) - 1]
    counts = np.bincount(data.users, minlength=data.n_users)
    last[order[ends]] = counts[data.users[order[ends]]] > 1
    return data.subset(~last), data.subset(last)


def run_recipe(
    data: Interactions,
    encoder: str,
    *,
    tuning: str = "lora",
    epochs: int = 1,
    max_pairs: int | None = None,
    n: int = 10,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Fit the GPT-2 text model on all but each user's last item, recommend ``n`` items by
    embedding similarity, and report the hit rate of the held-out items; with ``out`` save
    the artifact there and check that the loaded one recommends the same."""
    train, test = leave_last_out(data)
    model = TextRecommender(
        encoder=encoder,
        pooling="last",  # a decoder's summary of the text is its last real token
        tuning=tuning,
        user_tower="text",  # the user is the encoder over their history's joined text
        token_features=False,  # pure embedding similarity: no TF-IDF bag
        popularity_prior="off",
        epochs=epochs,
        max_pairs=max_pairs,
        max_length=64,
        history=10,
        batch_size=64,
        adapter=64,
    )
    t0 = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - t0
    users = test.user_map.ids[test.users]
    recs, _ = model.recommend(users, n=n)
    truth = test.item_map.ids[test.items]
    hits = [t in row for t, row in zip(truth, recs.tolist(), strict=True)]
    result: dict[str, Any] = {
        "users": len(users),
        "hit_rate": float(np.mean(hits)),
        "fit_seconds": fit_seconds,
        "trainable_parameters": model.trainable_parameters(),
        "pooling": model.encoder.pooling,
        "example": {str(users[0]): recs[0].tolist()},
        "model": model,
    }
    if out is not None:
        model.save(str(out))
        again = load_model(out).recommend(users, n=n)[0]
        result["reloaded_equal"] = bool(np.array_equal(again, recs))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="synthetic", help="synthetic, or a dataset directory")
    ap.add_argument("--encoder", default=None, help="local GPT-2 directory (default: build one)")
    ap.add_argument("--tuning", default="lora", choices=["frozen", "lora", "full"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-pairs", type=int, default=None)
    ap.add_argument("--out", default=None, help="save the artifact here")
    ap.add_argument("--save-encoder", default=None, help="only build the tiny GPT-2 here")
    args = ap.parse_args()
    if args.data == "synthetic":
        data = generate(n_users=300, n_items=200, n_interactions=6000, seed=0)
    else:
        data = load(args.data)
    encoder = args.encoder
    if encoder is None or args.save_encoder:
        where = args.save_encoder or tempfile.mkdtemp(prefix="tiny-gpt2-")
        encoder = build_tiny_gpt2(where, [str(t) for t in data.item_text])
        print(f"built a tiny random GPT-2 in {encoder}")
        if args.save_encoder:
            return
    res = run_recipe(data, encoder, tuning=args.tuning, epochs=args.epochs,
                     max_pairs=args.max_pairs, out=args.out)  # fmt: skip
    res.pop("model")
    for key, value in res.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
