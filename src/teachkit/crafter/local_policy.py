"""A local model (a student adapter, a checkpoint, an HF id or `smollm2-135m`) as a Crafter policy.

It implements the batched `teachers.Teacher` interface with `batch_size = None`, so the rollout loop hands it every
episode in flight at once, and it answers them all with ONE forward pass:

    score (default): the 17 replies the student was trained to write (`Action: NAME` and its end-of-turn token)
        are laid out as a token tree after each prompt. A tree attention mask lets every reply token see its
        prompt and the reply tokens before it only, so one forward pass over [prompt | tree] for all episodes
        gives the log-likelihood of each of the 17 replies; the most likely one is played. The system prompt,
        shared by every prompt, is encoded once and reused from its key/value cache.
    generate: greedy generation, batched over the episodes (one `generate` call per step), then parsed like any
        teacher's reply; for students trained to think before acting (`Thought: ... Action: ...`).

Prompts are built as the training data built them: the same system prompt (or none), the same observation format
and the same number of earlier (observation, reply) turns, all read from the student's `teachkit-training.json`.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.crafter.actions import parse_reply
from teachkit.crafter.env import ACTIONS
from teachkit.crafter.prompts import response_text, user_prompt
from teachkit.crafter.teachers import Decision, Turn
from teachkit.errors import InputError
from teachkit.records import StudentPrompt, TokenUsage
from teachkit.settings import Settings


@dataclass
class TreeNode:
    token: int
    parent: int  # index of the parent node; -1 for the first token of a reply
    depth: int


class ReplyTree:
    """The token sequences of the candidate replies as a prefix tree (shared prefixes are scored once)."""

    def __init__(self, sequences: dict[str, list[int]]):
        self.nodes: list[TreeNode] = []
        self.leaves: dict[str, int] = {}
        children: dict[tuple[int, int], int] = {}
        for name, tokens in sequences.items():
            parent = -1
            for depth, token in enumerate(tokens):
                key = (parent, token)
                if key not in children:
                    children[key] = len(self.nodes)
                    self.nodes.append(TreeNode(token, parent, depth))
                parent = children[key]
            self.leaves[name] = parent
        parents = {node.parent for node in self.nodes}
        for name, leaf in self.leaves.items():
            if leaf in parents or list(self.leaves.values()).count(leaf) > 1:
                raise ValueError(f"the reply of {name!r} is a prefix of another; replies must end with an end token")

    def ancestor_matrix(self) -> Any:
        """Boolean [node, node]: True where the column is the row node itself or one of its ancestors."""
        import torch

        matrix = torch.zeros((len(self.nodes), len(self.nodes)), dtype=torch.bool)
        for index in range(len(self.nodes)):
            matrix[index, self.path(index)] = True
        return matrix

    def path(self, node: int) -> list[int]:
        """The node and its ancestors, root first."""
        path = []
        while node >= 0:
            path.append(node)
            node = self.nodes[node].parent
        return path[::-1]


def completion_ids(tokenizer: Any, reply: str) -> list[int]:
    """The tokens a chat template puts after the generation prompt for `reply`, as SFT trained them, up to and
    including the end-of-turn token (TRL: prompt+completion minus the prompt)."""
    from trl.data_utils import common_prefix_length

    prompt = [{"role": "user", "content": "x"}]
    prompt_ids = chat_ids(tokenizer, prompt, generation_prompt=True)
    full_ids = chat_ids(tokenizer, [*prompt, {"role": "assistant", "content": reply}], generation_prompt=False)
    tokens = full_ids[common_prefix_length(prompt_ids, full_ids):]
    stop = tokenizer.eos_token_id
    if stop in tokens:
        tokens = tokens[: tokens.index(stop) + 1]
    return tokens


def chat_ids(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            add_generation_prompt=generation_prompt)
    return list(encoded["input_ids"])


class ActionScorer:
    """Ranks the 17 replies for a batch of prompts in one forward pass (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, system: str | None):
        self.model = model
        self.tokenizer = tokenizer
        self.tree = ReplyTree({name: completion_ids(tokenizer, response_text(name)) for name in ACTIONS})
        self.paths = {name: self.tree.path(leaf) for name, leaf in self.tree.leaves.items()}
        self.ancestors = self.tree.ancestor_matrix()
        self.prefix = shared_prefix(tokenizer, system)
        self._prefix_cache: Any = None
        self.device = next(model.parameters()).device

    def prefix_cache(self) -> Any:
        import torch

        if self._prefix_cache is None and self.prefix:
            with torch.inference_mode():
                ids = torch.tensor([self.prefix], device=self.device)
                self._prefix_cache = self.model(input_ids=ids, use_cache=True).past_key_values
        return self._prefix_cache

    def best(self, prompts: list[list[int]]) -> tuple[list[str], list[dict[str, float]]]:
        """The most likely action for each prompt, and every action's log-likelihood."""
        import torch

        prefix = self.prefix if all(p[: len(self.prefix)] == self.prefix for p in prompts) else []
        suffixes = [p[len(prefix):] for p in prompts]
        if any(not suffix for suffix in suffixes):
            # A prompt must keep at least its last token out of the cache: its logits score the first reply token.
            prefix, suffixes = [], prompts
        ids, positions, mask = self.lay_out(suffixes, len(prefix))
        cache = None
        if prefix:
            cache = copy.deepcopy(self.prefix_cache())
            cache.batch_repeat_interleave(len(prompts))
        # Logits are needed from the last prompt token of the shortest prompt on.
        width = ids.shape[1]
        first_kept = min(len(s) for s in suffixes) - 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device), past_key_values=cache, use_cache=cache is not None,
                logits_to_keep=width - first_kept,
            ).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1).cpu()
        nodes = self.tree.nodes
        node_tokens = torch.tensor([node.token for node in nodes], dtype=torch.long)
        parents = torch.tensor([node.parent for node in nodes], dtype=torch.long)
        best, scores = [], []
        for row, suffix in enumerate(suffixes):
            # The position whose logits predict each node: its parent node, or the prompt's last token.
            source = torch.where(parents < 0, len(suffix) - 1, len(suffix) + parents) - first_kept
            node_scores = log_probs[row, source, node_tokens]
            totals = {name: float(node_scores[self.paths[name]].sum()) for name in self.tree.leaves}
            scores.append(totals)
            best.append(max(totals, key=totals.__getitem__))
        return best, scores

    def lay_out(self, suffixes: list[list[int]], offset: int) -> tuple[Any, Any, Any]:
        """Input ids, positions and the additive 4D attention mask of rows [prompt suffix | reply tree | padding],
        after `offset` cached prefix tokens that every row sees."""
        import torch

        nodes = self.tree.nodes
        size = len(nodes)
        batch, width = len(suffixes), max(len(s) for s in suffixes) + size
        ids = torch.full((batch, width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        positions = torch.zeros((batch, width), dtype=torch.long)
        allowed = torch.zeros((batch, width, offset + width), dtype=torch.bool)
        allowed[:, :, 0] = True  # padding sees one column, so that no row of the mask is all -inf
        node_tokens = torch.tensor([node.token for node in nodes], dtype=torch.long)
        node_depths = torch.tensor([node.depth for node in nodes], dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            length = len(suffix)
            tree = slice(length, length + size)
            ids[row, :length] = torch.tensor(suffix)
            ids[row, tree] = node_tokens
            positions[row, :length] = torch.arange(offset, offset + length)
            positions[row, tree] = offset + length + node_depths
            allowed[row, : length + size, :offset] = True  # the cached prefix
            allowed[row, :length, offset: offset + length] = torch.tril(torch.ones(length, length, dtype=torch.bool))
            allowed[row, tree, offset: offset + length] = True  # each reply token sees the whole prompt...
            allowed[row, tree, offset + length: offset + length + size] = self.ancestors  # ...and its own path
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
        return ids, positions, mask


def shared_prefix(tokenizer: Any, system: str | None) -> list[int]:
    """The tokens every prompt starts with: the system turn and the opening of the first user turn."""
    def render(text: str) -> list[int]:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return chat_ids(tokenizer, messages, generation_prompt=True)

    first, second = render("alpha"), render("omega")
    length = 0
    while length < min(len(first), len(second)) and first[length] == second[length]:
        length += 1
    return first[:length]


class LocalPolicy:
    """A local model playing Crafter; all episodes in flight are decided together (Teacher with batch_size None)."""

    batch_size = None
    cpu_bound = False

    def __init__(self, spec: str, model: Any, tokenizer: Any, prompt: StudentPrompt, *, decode: str = "score",
                 max_new_tokens: int = 64):
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.decode = decode
        self.max_new_tokens = max_new_tokens
        self.scorer = ActionScorer(model, tokenizer, prompt.system_prompt) if decode == "score" else None
        self._earlier: dict[str, deque[tuple[str, str]]] = {}
        self.forward_passes = 0

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self._earlier[episode_id] = deque(maxlen=self.prompt.history)

    def end_episode(self, episode_id: str) -> None:
        self._earlier.pop(episode_id, None)

    def messages(self, turn: Turn) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.prompt.system_prompt}] if self.prompt.system_prompt else []
        for user, reply in self._earlier.get(turn.episode_id, ()):
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": user_prompt(turn.observation)})
        return messages

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        started = time.perf_counter()
        conversations = [self.messages(turn) for turn in turns]
        prompts = [chat_ids(self.tokenizer, messages, generation_prompt=True) for messages in conversations]
        self.forward_passes += 1
        if self.scorer is not None:
            names, _ = self.scorer.best(prompts)
            replies = [response_text(name) for name in names]
        else:
            replies = self.generate(prompts)
        latency = (time.perf_counter() - started) / len(turns)
        decisions = []
        for turn, messages, prompt_ids, reply in zip(turns, conversations, prompts, replies, strict=True):
            parsed = parse_reply(reply, 1)
            decisions.append(Decision(actions=parsed.actions, valid=parsed.valid, invalid_reason=parsed.invalid_reason,
                                      response=reply, thought=parsed.thought, latency_s=latency,
                                      tokens=TokenUsage(prompt=len(prompt_ids))))
            if self.prompt.history:
                self._earlier[turn.episode_id].append((messages[-1]["content"], reply))
        return decisions

    def generate(self, prompts: list[list[int]]) -> list[str]:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(p) for p in prompts)
        # Left padding: every prompt's last token sits next to its first new token.
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                      max_new_tokens=self.max_new_tokens, pad_token_id=pad)
        return self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)

    async def aclose(self) -> None:
        return None


def load_policy_model(name_or_path: str, settings: Settings) -> tuple[Any, Any, str]:
    """(model, tokenizer, what was loaded) for a student folder (adapter or full), a checkpoint, an HF id or the
    embedded model; an adapter is merged into its base in memory, so playing costs no more than the base."""
    from teachkit.models import load_model_and_tokenizer, load_tokenizer
    from teachkit.train.artifacts import read_record
    from teachkit.train.chat import ensure_chat_template

    path = Path(name_or_path).expanduser()
    if (path / "adapter_config.json").is_file():
        import json

        from peft import PeftModel

        record = read_record(path)
        base = record.base_model_path if record is not None and Path(record.base_model_path).exists() else None
        if base is None:
            config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            base = record.base_model if record is not None else config.get("base_model_name_or_path")
        if not base:
            raise InputError(f"{path}: an adapter that names no base model; merge it, or give the base model folder")
        model, _ = load_model_and_tokenizer(str(base), settings)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
        model.eval()
        tokenizer = load_tokenizer(str(path), settings) if (path / "tokenizer_config.json").is_file() else \
            load_tokenizer(str(base), settings)
        loaded = f"{path} (adapter on {base})"
    else:
        model, tokenizer = load_model_and_tokenizer(name_or_path, settings)
        loaded = name_or_path
    ensure_chat_template(tokenizer)
    return model, tokenizer, loaded
