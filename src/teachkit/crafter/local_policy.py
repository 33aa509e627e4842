"""A local model (a student adapter, a checkpoint, an HF id or `smollm2-135m`) as a Crafter policy.

It implements the batched `teachers.Teacher` interface with `batch_size = None`, so the rollout loop hands it every
episode in flight at once, and it answers them all with ONE forward pass:

    score (default): the 17 replies the student was trained to write (`Action: NAME` and its end-of-turn token)
        are laid out as a token tree after each prompt. A tree attention mask lets every reply token see its
        prompt and the reply tokens before it only, so one forward pass over [prompt | tree] for all episodes
        gives the log-likelihood of each of the 17 replies; the most likely one is played. The system prompt,
        shared by every prompt, is encoded once and reused from its key/value cache. Only the tree's inner nodes
        are fed in: a reply's last token (its end-of-turn) is scored from its parent's logits, and what the model
        would say after it is never needed (60 -> 43 tree tokens per episode for SmolLM2's tokenizer).
    generate: greedy generation, batched over the episodes (one `generate` call per step), then parsed like any
        teacher's reply; for students trained to think before acting (`Thought: ... Action: ...`).

Prompts are built as the training data built them (`prompts.StudentConversation`): the same system prompt (or
none), the same observation format and the same number of earlier (observation, reply) turns, all read from the
student's `teachkit-training.json`, and fitted to its chat template (`students.chat_template`: Gemma's has no
system role) exactly as the trainer fitted them.

On a CPU with bf16 instructions (`crafter.eval.cpu_bf16_autocast`) the forward passes run under bf16 autocast, as
local training does: about 1.5-2x faster; scores then differ from fp32 in the third decimal, so near-ties may flip.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from teachkit.crafter.actions import parse_reply
from teachkit.crafter.env import ACTIONS
from teachkit.crafter.prompts import StudentConversation, response_text
from teachkit.crafter.teachers import Decision, Turn
from teachkit.records import StudentPrompt, TokenUsage
from teachkit.students.chat_template import StudentChat, end_of_turn_ids
from teachkit.students.precision import cpu_autocast


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


def completion_ids(chat: StudentChat, reply: str, stops: set[int]) -> list[int]:
    """The tokens a chat template puts after the generation prompt for `reply`, as SFT trained them, up to and
    including the first end-of-turn token (TRL: prompt+completion minus the prompt)."""
    from trl.data_utils import common_prefix_length

    prompt = [{"role": "user", "content": "x"}]
    prompt_ids = chat.ids(prompt, generation_prompt=True)
    full_ids = chat.ids([*prompt, {"role": "assistant", "content": reply}], generation_prompt=False)
    tokens = full_ids[common_prefix_length(prompt_ids, full_ids):]
    end = next((index for index, token in enumerate(tokens) if token in stops), None)
    return tokens[: end + 1] if end is not None else tokens


class ActionScorer:
    """Ranks the 17 replies for a batch of prompts in one forward pass (see the module docstring)."""

    def __init__(self, model: Any, chat: StudentChat, system: str | None, *, cpu_bf16_autocast: bool = False):
        import torch

        self.model = model
        self.tokenizer = chat.tokenizer
        stops = end_of_turn_ids(model, chat.tokenizer)
        self.tree = ReplyTree({name: completion_ids(chat, response_text(name), stops) for name in ACTIONS})
        self.paths = {name: self.tree.path(leaf) for name, leaf in self.tree.leaves.items()}
        nodes = self.tree.nodes
        # The inner nodes are the tree's input; each node is predicted by its parent's slot (or the prompt's end).
        self.inputs = sorted({node.parent for node in nodes if node.parent >= 0})
        slot = {node: index for index, node in enumerate(self.inputs)}
        self.parent_slots = torch.tensor([slot[node.parent] if node.parent >= 0 else -1 for node in nodes])
        self.ancestors = self.tree.ancestor_matrix()[self.inputs][:, self.inputs]
        self.prefix = shared_prefix(chat, system)
        self._prefix_cache: Any = None
        self.device = next(model.parameters()).device
        self.cpu_bf16_autocast = cpu_bf16_autocast

    def forward(self, **inputs: Any) -> Any:
        import torch

        with torch.inference_mode(), cpu_autocast(self.device, self.cpu_bf16_autocast):
            return self.model(**inputs)

    def prefix_cache(self) -> Any:
        import torch

        if self._prefix_cache is None and self.prefix:
            self._prefix_cache = self.forward(input_ids=torch.tensor([self.prefix], device=self.device),
                                              use_cache=True).cache
        return self._prefix_cache

    def best(self, prompts: list[list[int]], *, cached_prefix: bool = True) -> tuple[list[str], list[dict[str, float]]]:
        """The most likely action for each prompt, and every action's log-likelihood (`cached_prefix=False`:
        every prompt encoded whole, the reference the cache must agree with)."""
        import torch

        prefix = self.prefix if cached_prefix and all(p[: len(self.prefix)] == self.prefix for p in prompts) else []
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
        logits = self.forward(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device), cache=cache, use_cache=cache is not None,
            logits_to_keep=width - first_kept,
        ).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1).cpu()
        node_tokens = torch.tensor([node.token for node in self.tree.nodes], dtype=torch.long)
        parents = self.parent_slots
        best, scores = [], []
        for row, suffix in enumerate(suffixes):
            # The position whose logits predict each node: its parent's slot, or the prompt's last token.
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

        nodes = [self.tree.nodes[index] for index in self.inputs]
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
        dtype = next(self.model.parameters()).dtype  # fp32 under CPU autocast too: the scores are summed in it
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None]
        return ids, positions, mask


def shared_prefix(chat: StudentChat, system: str | None) -> list[int]:
    """The tokens every prompt starts with: the system turn (or, folded, the system text) and the opening of the
    first user turn."""
    def render(text: str) -> list[int]:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return chat.ids(messages, generation_prompt=True)

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
                 max_new_tokens: int = 64, cpu_bf16_autocast: bool = False, temperature: float = 0.0):
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.chat = StudentChat(tokenizer, spec)
        self.prompt = prompt
        self.decode = decode
        self.max_new_tokens = max_new_tokens
        self.cpu_bf16_autocast = cpu_bf16_autocast
        self.scorer = ActionScorer(model, self.chat, prompt.system_prompt, cpu_bf16_autocast=cpu_bf16_autocast) \
            if decode == "score" else None
        self.conversation = StudentConversation(prompt)
        self.forward_passes = 0
        self.temperature = temperature
        self.rngs: dict[str, random.Random] = {}

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self.conversation.begin(episode_id)
        self.rngs[episode_id] = random.Random(f"crafter-student:{seed}")

    def end_episode(self, episode_id: str) -> None:
        self.conversation.end(episode_id)
        self.rngs.pop(episode_id, None)

    def choose(self, episode_id: str, scores: dict[str, float]) -> str:
        """The most likely action, or at a temperature one drawn from the replies' likelihoods: a greedy student
        that faces water it cannot use repeats `do` until the episode ends; sampling lets it walk away."""
        if self.temperature <= 0:
            return max(scores, key=scores.__getitem__)
        names = list(scores)
        top = max(scores.values())
        weights = [math.exp((scores[name] - top) / self.temperature) for name in names]
        rng = self.rngs.get(episode_id)
        if rng is None:  # an episode begun without begin_episode: seeded by its id (built once, not per decision)
            rng = self.rngs[episode_id] = random.Random(f"crafter-student:{episode_id}")
        return rng.choices(names, weights=weights)[0]

    def messages(self, turn: Turn) -> list[dict[str, str]]:
        """The conversation as the training data had it (before fitting it to the chat template)."""
        return self.conversation.messages(turn.episode_id, turn.observation)

    def prompt_ids(self, turn: Turn) -> list[int]:
        return self.chat.ids(self.messages(turn), generation_prompt=True)

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        started = time.perf_counter()
        prompts = [self.prompt_ids(turn) for turn in turns]
        self.forward_passes += 1
        if self.scorer is not None:
            names, scores = self.scorer.best(prompts)
            if self.temperature > 0:
                names = [self.choose(turn.episode_id, score) for turn, score in zip(turns, scores, strict=True)]
            replies = [response_text(name) for name in names]
        else:
            replies = self.generate(prompts)
        latency = (time.perf_counter() - started) / len(turns)
        decisions = []
        for turn, prompt_ids, reply in zip(turns, prompts, replies, strict=True):
            parsed = parse_reply(reply, 1)
            decisions.append(Decision(actions=parsed.actions, valid=parsed.valid, invalid_reason=parsed.invalid_reason,
                                      response=reply, thought=parsed.thought, latency_s=latency,
                                      tokens=TokenUsage(prompt=len(prompt_ids))))
            self.conversation.remember(turn.episode_id, turn.observation, reply)
        return decisions

    def generate(self, prompts: list[list[int]]) -> list[str]:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(p) for p in prompts)
        # Left padding: every prompt's last token sits next to its first new token.
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        device = next(self.model.parameters()).device
        with torch.inference_mode(), cpu_autocast(device, self.cpu_bf16_autocast):
            # Stops at any end-of-turn token (Gemma's <end_of_turn>, ChatML's <|im_end|>), not only at <eos>.
            out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                      max_new_tokens=self.max_new_tokens, pad_token_id=pad,
                                      eos_token_id=sorted(end_of_turn_ids(self.model, self.tokenizer)))
        return [text.strip() for text in self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]

    async def aclose(self) -> None:
        return None
