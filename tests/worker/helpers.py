"""Tiny, offline stand-ins for the real things: a tokenizer trained on the fly, a random-init
Llama-style model, and a release folder in the Hub layout written from synthetic rows."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from worker.data import DOLLY_END, DOLLY_INTRO, DOLLY_INTRO_WITH_INPUT

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]
THINGS = ["apple", "car", "house", "bird", "boat", "lamp", "chair", "river", "cloud", "stone"]
FILLER = ["the", "a", "is", "of", "and", "to", "in", "it", "that", "was", "very", "quite"]
GOOD, BAD = "helpful", "useless"

SFT_COLUMNS = ["id", "instruction", "context", "response", "category", "language", "source"]


def sft_rows(n: int, seed: int, prefix: str = "p") -> list[dict[str, Any]]:
    """Learnable Dolly-shaped rows: the answer names the colour the context gives the thing."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        thing, colour = rng.choice(THINGS), rng.choice(COLOURS)
        with_context = rng.random() < 0.4
        context = (
            " ".join(rng.choices(FILLER, k=rng.randint(5, 20))) + f" the {thing} is {colour} ."
            if with_context
            else ""
        )
        answer = f"the {thing} is {colour} ." + " it is very {colour} ." * rng.randint(0, 3)
        rows.append(
            {
                "id": f"{prefix}{i}",
                "instruction": f"what colour is the {thing} ?",
                "context": context,
                "response": answer.replace("{colour}", colour),
                "category": "closed_qa" if with_context else "open_qa",
                "language": "en",
                "source": "human",
            }
        )
    return rows


def ranked_groups(n: int, seed: int, k: int = 4) -> list[dict[str, Any]]:
    """Prompts with k responses whose quality is the number of GOOD words minus BAD words."""
    rng = random.Random(seed)
    groups = []
    for i in range(n):
        thing = rng.choice(THINGS)
        qualities = rng.sample(range(-2, 4), k)
        responses = []
        for q in qualities:
            words = rng.choices([*FILLER, thing], k=rng.randint(4, 10))
            words += [GOOD] * max(q, 0) + [BAD] * max(-q, 0)
            rng.shuffle(words)
            responses.append(" ".join(words))
        order = sorted(range(k), key=lambda j: -qualities[j])
        groups.append(
            {
                "prompt_id": f"q{seed}-{i}",
                "instruction": f"tell me about the {thing} .",
                "context": "",
                "responses": responses,
                "order": order,
            }
        )
    return groups


def preference_rows(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ranked pair of every group, in the ``preferences`` schema."""
    rows = []
    for g in groups:
        rank = {index: position + 1 for position, index in enumerate(g["order"])}
        for a in g["order"]:
            for b in g["order"]:
                if rank[a] < rank[b]:
                    rows.append(
                        {
                            "prompt_id": g["prompt_id"],
                            "instruction": g["instruction"],
                            "context": g["context"],
                            "chosen": g["responses"][a],
                            "rejected": g["responses"][b],
                            "chosen_rank": rank[a],
                            "rejected_rank": rank[b],
                            "margin": float(rank[b] - rank[a]),
                            "rankers": 3,
                            "agreement": 1.0,
                        }
                    )
    return rows


def ranking_rows(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each group ranked by two rankers who agree, in the ``rankings`` schema."""
    return [{**g, "ranker": ranker} for g in groups for ranker in ("r1", "r2")]


def write_release(root: Path, configs: dict[str, dict[str, list[dict[str, Any]]]]) -> Path:
    """Write ``data/<config>/<split>-00000-of-00001.parquet`` and a README.md with ``configs:``."""
    yaml = ["---", "configs:"]
    for config, splits in configs.items():
        yaml.append(f"- config_name: {config}")
        yaml.append("  data_files:")
        for split, rows in splits.items():
            folder = root / "data" / config
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}-00000-of-00001.parquet")
            yaml.append(f"  - split: {split}")
            yaml.append(f"    path: data/{config}/{split}-*.parquet")
    yaml += ["---", "", "# A tiny test release", ""]
    (root / "README.md").write_text("\n".join(yaml))
    return root


def build_tokenizer(folder: Path) -> Any:
    """A word-level tokenizer over every word the synthetic data and Dolly's template use."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<unk>"]
    words = set(COLOURS + THINGS + FILLER + [GOOD, BAD])
    words |= {"what", "colour", "?", ".", "tell", "me", "about", "#", ":", ",", "Input"}
    template = " ".join([DOLLY_INTRO, DOLLY_INTRO_WITH_INPUT, DOLLY_END, "Instruction Response"])
    words |= set(template.replace(".", " . ").replace(",", " , ").replace(":", " : ").split())
    vocab = {token: i for i, token in enumerate(special + sorted(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", vocab["<s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.save_pretrained(folder)
    return fast


def build_tiny_llama(folder: Path, *, seed: int = 0, classifier: bool = False) -> Path:
    """A random-init Llama (hidden 64, 2 layers, 4 heads, 2 KV heads) and its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    cls = LlamaForSequenceClassification if classifier else LlamaForCausalLM
    if classifier:
        config.num_labels = 1
    cls(config).save_pretrained(folder)
    return folder


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
