"""Model-written answers: a finished SFT model answers the prompts the web sent with the run, so
that its answers can join each prompt's ranking set beside the volunteers' answers.

The spec's ``answer`` section (see worker.runs) becomes an :class:`AnswerSpec`;
:func:`write_answers` loads the finished output folder with transformers and samples an
answer to every prompt, in the prompt format the model was trained on.

Answers are kept as they are written, a batch at a time, in a journal beside the output
folder (:func:`journal_path`, JSON lines), so that a run sent again (a redelivery, a retry
after a failed publish, a node that died while answering) answers only what it had not: each
entry is keyed by the model's config fingerprint, ``max_new_tokens``, and the prompt's id and
text, and every batch is sampled under its own seed, so resumed answers are those of an
uninterrupted run on the same machine.

Light at import (worker.runs validates specs with it in the web-facing task): torch,
transformers and worker.data are imported inside the functions that need them.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from worker.config import PromptFormat, SFTConfig, value_fits
from worker.progress import ProgressCallback, ProgressEvent, StopCheck, Stopped

if TYPE_CHECKING:
    import torch

MOST_PROMPTS = 500
MOST_NEW_TOKENS = 2048
DEFAULT_NEW_TOKENS = 256
MOST_ANSWER_CHARS = 8000
BATCH_SIZE = 8
TEMPERATURE = 0.7
TOP_P = 0.9

_SECTION_KEYS = {"prompts", "max_new_tokens"}
_PROMPT_KEYS = {"id", "instruction", "context"}


class AnswerEvent(ProgressEvent, total=False):
    """Progress while answering: ``{"phase": "answer", "answered": n, "to_answer": N}``."""

    answered: int
    to_answer: int


class ModelAnswer(TypedDict):
    """One answer as the result carries it."""

    prompt_id: int
    text: str


@dataclass(frozen=True)
class AnswerPrompt:
    """A prompt to answer, as the web sent it (``id`` is the web's prompt id)."""

    id: int
    instruction: str
    context: str


@dataclass(frozen=True)
class AnswerSpec:
    """What to answer once training has finished: 1 to MOST_PROMPTS prompts with unique ids,
    each answer at most ``max_new_tokens`` tokens long."""

    prompts: tuple[AnswerPrompt, ...]
    max_new_tokens: int = DEFAULT_NEW_TOKENS

    @classmethod
    def from_spec(cls, section: Any) -> AnswerSpec | None:
        """Build from the spec's ``answer`` value (None: nothing to answer); raises ValueError
        naming the first problem."""
        if section is None:
            return None
        if not isinstance(section, dict):
            raise ValueError("answer must be null or an object with prompts and max_new_tokens")
        unknown = set(section) - _SECTION_KEYS
        if unknown:
            raise ValueError(f"unknown answer keys: {sorted(unknown)}")
        max_new_tokens = section.get("max_new_tokens", DEFAULT_NEW_TOKENS)
        if not value_fits(int, max_new_tokens) or not 1 <= max_new_tokens <= MOST_NEW_TOKENS:
            raise ValueError(
                f"answer.max_new_tokens must be a whole number from 1 to {MOST_NEW_TOKENS} "
                f"(got {max_new_tokens!r})"
            )
        prompts = section.get("prompts")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= MOST_PROMPTS:
            raise ValueError(f"answer.prompts must be a list of 1 to {MOST_PROMPTS} prompts")
        parsed = tuple(_prompt(i, p) for i, p in enumerate(prompts))
        seen: set[int] = set()
        for prompt in parsed:
            if prompt.id in seen:
                raise ValueError(f"answer.prompts has prompt id {prompt.id} more than once")
            seen.add(prompt.id)
        return cls(parsed, max_new_tokens)

    def to_spec(self) -> dict[str, Any]:
        """The JSON section from_spec reads."""
        return {
            "prompts": [
                {"id": p.id, "instruction": p.instruction, "context": p.context}
                for p in self.prompts
            ],
            "max_new_tokens": self.max_new_tokens,
        }


def _prompt(index: int, value: Any) -> AnswerPrompt:
    where = f"answer.prompts[{index}]"
    if not isinstance(value, dict) or set(value) != _PROMPT_KEYS:
        raise ValueError(f"{where} must be an object with exactly id, instruction and context")
    if not value_fits(int, value["id"]) or value["id"] < 1:
        raise ValueError(f"{where}.id must be a positive whole number (got {value['id']!r})")
    if not isinstance(value["instruction"], str) or not value["instruction"].strip():
        raise ValueError(f"{where}.instruction must be non-empty text")
    if not isinstance(value["context"], str):
        raise ValueError(f'{where}.context must be text ("" when the prompt has none)')
    return AnswerPrompt(value["id"], value["instruction"], value["context"])


def clean_answer(text: str, fmt: PromptFormat) -> str:
    """The answer in a decoded generation: cut at Dolly's end marker when the model wrote it
    (Dolly-format training taught it to), stripped, and at most MOST_ANSWER_CHARS long."""
    from worker.data import DOLLY_END

    if fmt == "dolly":
        text = text.split(DOLLY_END, 1)[0]
    return text.strip()[:MOST_ANSWER_CHARS]


def prompt_ids(tokenizer: Any, prompt: AnswerPrompt, config: SFTConfig) -> list[int]:
    """The prompt's tokens exactly as SFT saw them before a response (worker.data.tokenize_sft),
    cut from the left to ``max_seq_len``: the end holds the response header."""
    from worker.data import format_prompt

    text = format_prompt(tokenizer, prompt.instruction, prompt.context, config.prompt_format)
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    return ids[-config.max_seq_len :]


def journal_path(output_dir: str | Path) -> Path:
    """Where the answers of the run writing ``output_dir`` are kept as they are written:
    ``.<name>.answers.jsonl`` beside it (worker.runs removes it with a cancelled run's
    leftovers)."""
    output = Path(output_dir)
    return output.parent / f".{output.name}.answers.jsonl"


def _entry_key(config: SFTConfig, answer: AnswerSpec, prompt: AnswerPrompt) -> str:
    """What makes a journal entry the answer to ``prompt`` now: the same trained model, the
    same length limit, the same prompt."""
    values = [config.fingerprint(), answer.max_new_tokens, prompt.id, prompt.instruction]
    values.append(prompt.context)
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def read_journal(path: Path) -> dict[str, str]:
    """The answers a journal holds, by entry key; an unreadable line (the last one, torn by a
    crash mid-write) is left out."""
    kept: dict[str, str] = {}
    if not path.is_file():
        return kept
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            key, text = entry["key"], entry["text"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(key, str) and isinstance(text, str):
            kept[key] = text
    return kept


def _append_journal(path: Path, entries: list[dict[str, str]]) -> None:
    """Add a batch's entries and make them durable before the batch counts as answered."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(e) + "\n" for e in entries))
        handle.flush()
        os.fsync(handle.fileno())


def write_answers(
    model_dir: str,
    config: SFTConfig,
    answer: AnswerSpec,
    progress: ProgressCallback,
    should_stop: StopCheck,
    journal: Path | None = None,
) -> list[ModelAnswer]:
    """Answer every prompt of ``answer`` with the model in ``model_dir``; answers come in the
    order of the prompts, and a prompt whose answer is empty has none.

    Batches of BATCH_SIZE prompts of similar length (left-padded) are sampled at TEMPERATURE
    and TOP_P, each under its own seed (``config.seed`` plus the batch's number), so that the
    same model and prompts on the same machine give the same answers; an answer ends at the
    EOS token or after ``max_new_tokens``. ``should_stop`` is asked before each batch (Stopped
    when it says so) and progress is reported before the first batch and after each one
    (AnswerEvent).

    With ``journal`` (see :func:`journal_path`) the answers it already holds for these
    prompts are taken from it, and each batch's answers are added to it once written.

    Preconditions: ``model_dir`` holds a finished output of ``config`` (weights and
    tokenizer; an unmerged LoRA adapter loads through peft with its base model); this is the
    only process that answers (the main one).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    device = _device()
    # Whatever training left behind on the device is garbage now; the model comes from disk.
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32
    )
    model = model.to(device)
    model.eval()
    stop_ids = _stop_ids(tokenizer, model)
    generation = GenerationConfig(
        do_sample=True,
        temperature=TEMPERATURE,
        top_p=TOP_P,
        top_k=0,  # no top-k cut besides top_p (transformers would default to 50)
        max_new_tokens=answer.max_new_tokens,
        use_cache=True,
        eos_token_id=stop_ids,
        pad_token_id=tokenizer.pad_token_id,
    )

    prompts = answer.prompts
    keys = [_entry_key(config, answer, p) for p in prompts]
    kept = read_journal(journal) if journal is not None else {}
    texts = {i: kept[key] for i, key in enumerate(keys) if key in kept}
    encoded = [prompt_ids(tokenizer, p, config) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
    batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]

    def report() -> None:
        progress(AnswerEvent(phase="answer", answered=len(texts), to_answer=len(prompts)))

    report()
    for number, batch in enumerate(batches):
        # The batches are laid out over every prompt, so a resumed run samples a batch that
        # was not written as the uninterrupted run did.
        todo = [i for i in batch if i not in texts]
        if not todo:
            continue
        if should_stop():
            raise Stopped(f"stopped after answering {len(texts)} of {len(prompts)} prompts")
        input_ids, attention_mask = _left_padded([encoded[i] for i in todo], tokenizer)
        torch.manual_seed(config.seed + number)
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=generation,
            )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        for index, tokens in zip(todo, new_tokens, strict=True):
            decoded = tokenizer.decode(_until_stop(tokens, stop_ids), skip_special_tokens=True)
            texts[index] = clean_answer(decoded, config.prompt_format)
        if journal is not None:
            _append_journal(journal, [{"key": keys[i], "text": texts[i]} for i in todo])
        report()
    return [ModelAnswer(prompt_id=p.id, text=texts[i]) for i, p in enumerate(prompts) if texts[i]]


def _device() -> torch.device:
    """The device the trainers use for this process (worker.runtime.setup_runtime), without
    joining their process group: only the main process answers."""
    import torch

    if torch.cuda.is_available():
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return torch.device("cpu")


def _stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """The tokenizer's EOS (what SFT appended to every response) and any end-of-turn tokens
    the model's generation config names (chat templates end a turn with their own)."""
    configured = model.generation_config.eos_token_id
    extra = configured if isinstance(configured, list) else [configured]
    ids = [int(tokenizer.eos_token_id)] + [int(i) for i in extra if i is not None]
    return list(dict.fromkeys(ids))


def _left_padded(rows: list[list[int]], tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of ``rows``, padded on the left so that every
    row's generation starts at the same position."""
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        input_ids[r, width - len(row) :] = torch.tensor(row)
        attention_mask[r, width - len(row) :] = 1
    return input_ids, attention_mask


def _until_stop(tokens: list[int], stop_ids: list[int]) -> list[int]:
    """The tokens before the first stop token (after it, generate pads)."""
    for position, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:position]
    return tokens
