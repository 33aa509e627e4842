"""The `acts` judge: did a response perform the reference turn's dialogue acts? Deterministic, offline, free. The text
matching and the vocabulary it reads a response with are `matching.py`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from teachkit.records import Sample, SystemAction
from teachkit.sgd.judges.judgement import Judgement, JudgeStats
from teachkit.sgd.judges.matching import (
    ASK_CUES,
    DIGITS,
    FAILURE_CUES,
    GOODBYE_CUES,
    NEGATION_CUES,
    REQ_MORE_CUES,
    SLOT_VOCABULARY,
    SNAKE_TOKEN,
    STOPWORDS,
    SUCCESS_CUES,
    TIME_IN_TEXT,
    contains_phrase,
    intent_words,
    is_boolean,
    normalize,
    slot_words,
    stem,
    value_match,
    value_variants,
)

ACTS_VERSION = "acts-v2"

# --- the acts judge -------------------------------------------------------------------------------------------


@dataclass
class ActsScore:
    """The acts score and every factor that made it, so a test or a person can see why."""

    score: float
    coverage: float
    length_factor: float
    repetition_factor: float
    contradiction_factor: float
    precision_factor: float
    leak_factor: float
    goodbye_factor: float
    copy_factor: float = 1.0
    per_action: list[tuple[str, float]] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    extra_requests: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    empty: bool = False

    def reasons(self) -> str:
        if self.empty:
            return "empty response"
        acts = ", ".join(f"{name} {value:.2f}" for name, value in self.per_action) or "no reference acts"
        parts = [f"acts: {acts}"]
        factors = {
            "length": self.length_factor, "repetition": self.repetition_factor,
            "contradictions": self.contradiction_factor, "extra requests": self.precision_factor,
            "schema names": self.leak_factor, "goodbye": self.goodbye_factor, "copied instructions": self.copy_factor,
        }
        penalties = [f"{name} x{value:.2f}" for name, value in factors.items() if value < 1.0]
        if penalties:
            parts.append("penalties: " + ", ".join(penalties))
        if self.contradictions:
            parts.append("contradicts: " + ", ".join(self.contradictions))
        if self.extra_requests:
            parts.append("asks unrequested: " + ", ".join(self.extra_requests))
        return "; ".join(parts)


class ActsJudge:
    """How well a response performs the reference turn's dialogue acts. Deterministic, offline, free.

        score = coverage x length x repetition x contradiction x precision x leak x goodbye x copy    (0 - 1)

    coverage: the mean, over the reference turn's `system_actions`, of how well the response performs each:
      - REQUEST slot: 1.0 if the response asks (a `?` or "could you", "please confirm", ...) and names the slot (a
        word of the slot name or a synonym: number_of_seats -> seats, people, how many) or one of the options the
        reference offers; 0.5 if it names it without asking; 0.25 if it asks about something else;
      - OFFER / INFORM / INFORM_COUNT slot values: the mean value match of the values (1.0 when a form of the
        value appears: `19:30` = `7:30 pm`, `2019-03-07` = `March 7th`, `3` = `three`; partial credit for most of
        a long name). `True` counts when the slot is named, `False` when it is named beside a negation ("no",
        "not", "doesn't");
      - CONFIRM slot values: the value match x (0.75, or 1.0 if the response asks);
      - OFFER_INTENT intent: as REQUEST, naming the intent (`ReserveRestaurant`: reserve, book, ...);
      - NOTIFY_SUCCESS, NOTIFY_FAILURE, REQ_MORE, GOODBYE: 1.0 if the response has a cue of that act
        ("booked", "sorry", "anything else", "goodbye"), else 0.
      Unknown acts are left out. A turn without actions scores the word F1 against the reference instead.
    length: 1 up to `2 x reference words + 10` words, then falling linearly to 0 at twice that.
    repetition: distinct word 4-grams / all word 4-grams (1 for fewer than 4 words).
    contradiction: 1 - 0.25 per contradiction (floor 0). A contradiction is a number the response states that
      appears nowhere in the context, the service results or the reference (an invented time, price, count or
      phone number), or a value from the service results of a slot the reference mentions that is not the
      reference's value (another restaurant's phone number; another time than the one confirmed).
    precision: 1 - 0.2 per slot the response asks about in a question that no reference action mentions (floor 0).
    leak: 1 - 0.25 per schema name written out (`restaurant_name`, `ReserveRestaurant`, `Restaurants_1`) (floor 0).
    goodbye: 0.5 when the response says goodbye and the reference does not.
    copy: 1 - 2 x the share of the response's word trigrams copied from the system message or task description
      (instructions, intent descriptions, result labels) and found nowhere in the conversation, the service values
      or the reference (floor 0): GRPO against an earlier version learned "Find the ones that serve a cuisine?".
    An empty response scores 0.
    """

    name = "acts"

    def __init__(self) -> None:
        self.stats = JudgeStats()

    def describe(self) -> str:
        return ACTS_VERSION

    async def judge_batch(self, samples: list[Sample], responses: list[str]) -> list[Judgement]:
        results = []
        for sample, response in zip(samples, responses, strict=True):
            scored = self.score(sample, response)
            results.append(Judgement(score=scored.score, reasons=scored.reasons()))
        self.stats.scored += len(results)
        return results

    async def aclose(self) -> None:
        return None

    def score(self, sample: Sample, response: str) -> ActsScore:
        text = response.strip()
        norm = normalize(text)
        words = norm.split()
        if not words:
            return ActsScore(0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, empty=True)
        tokens = set(words)
        stems = {stem(w) for w in words}
        asks = "?" in text or bool(ASK_CUES.search(norm))

        per_action: list[tuple[str, float]] = []
        for action in sample.system_actions:
            value = self._act_score(action, norm, tokens, stems, asks)
            if value is not None:
                plain = not action.slot or action.slot in {"intent", "count"}
                label = action.act if plain else f"{action.act} {action.slot}"
                per_action.append((label, value))
        if per_action:
            coverage = sum(v for _, v in per_action) / len(per_action)
        else:
            coverage = word_f1(norm, normalize(sample.ground_truth))

        reference_words = len(normalize(sample.ground_truth).split())
        allowed = 2 * reference_words + 10
        length_factor = 1.0 if len(words) <= allowed else max(0.0, 1.0 - (len(words) - allowed) / allowed)
        grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
        repetition_factor = len(set(grams)) / len(grams) if grams else 1.0

        contradictions = self._contradictions(sample, text, norm)
        contradiction_factor = max(0.0, 1.0 - 0.25 * len(contradictions))
        extra_requests = self._extra_requests(sample, text)
        precision_factor = max(0.0, 1.0 - 0.2 * len(extra_requests))
        leaks = self._leaks(sample, text)
        leak_factor = max(0.0, 1.0 - 0.25 * len(leaks))
        says_goodbye = bool(GOODBYE_CUES.search(norm))
        reference_goodbye = any(a.act == "GOODBYE" for a in sample.system_actions)
        goodbye_factor = 0.5 if says_goodbye and not reference_goodbye else 1.0
        copy_factor = max(0.0, 1.0 - 2 * self._copied_fraction(sample, words))

        score = (coverage * length_factor * repetition_factor * contradiction_factor * precision_factor
                 * leak_factor * goodbye_factor * copy_factor)
        return ActsScore(
            score=round(min(1.0, max(0.0, score)), 4),
            coverage=coverage,
            length_factor=length_factor,
            repetition_factor=repetition_factor,
            contradiction_factor=contradiction_factor,
            precision_factor=precision_factor,
            leak_factor=leak_factor,
            goodbye_factor=goodbye_factor,
            copy_factor=copy_factor,
            per_action=per_action,
            contradictions=contradictions,
            extra_requests=extra_requests,
            leaks=leaks,
        )

    @staticmethod
    def _act_score(action: SystemAction, norm: str, tokens: set[str], stems: set[str], asks: bool) -> float | None:
        act = action.act.upper()
        values = action_values(action)
        stemmed_text = " ".join(stem(w) for w in norm.split())

        def names(words: set[str]) -> bool:
            return any(contains_phrase(stemmed_text, w) if " " in w else w in stems for w in words)

        def matched(forms: list[str]) -> float:
            return max(value_match(form, norm, tokens) for form in forms)

        def values_score() -> float:
            scores = []
            for forms in values:
                if any(is_boolean(form) for form in forms):
                    # "No, they don't offer cosmetic services" informs False: the slot and a negation.
                    negated = any(form.strip().lower() == "false" for form in forms)
                    said = names(slot_words(action.slot)) and (not negated or bool(NEGATION_CUES.search(norm)))
                    scores.append(1.0 if said else 0.0)
                else:
                    scores.append(matched(forms))
            return sum(scores) / len(scores)

        if act == "REQUEST":
            named = names(slot_words(action.slot)) or any(matched(forms) == 1.0 for forms in values)
            return ask_and_name(asks, named)
        if act in {"OFFER", "INFORM", "INFORM_COUNT"}:
            if not values:
                return 1.0 if names(slot_words(action.slot)) else 0.0
            return values_score()
        if act == "CONFIRM":
            mentioned = values_score() if values else (1.0 if names(slot_words(action.slot)) else 0.0)
            return mentioned * (0.75 + 0.25 * asks)
        if act == "OFFER_INTENT":
            named = any(names(intent_words(form)) for forms in values for form in forms)
            return ask_and_name(asks, named)
        cues = {"NOTIFY_SUCCESS": SUCCESS_CUES, "NOTIFY_FAILURE": FAILURE_CUES, "REQ_MORE": REQ_MORE_CUES,
                "GOODBYE": GOODBYE_CUES}
        if act in cues:
            return 1.0 if cues[act].search(norm) else 0.0
        return None

    @staticmethod
    def _contradictions(sample: Sample, text: str, norm: str) -> list[str]:
        found: list[str] = []
        grounding_text = " ".join(
            [prompt_text(sample), sample.ground_truth]
            + [v for action in sample.system_actions for v in action.values + action.canonical_values]
            + [str(v) for row in sample.service_results for v in row.values()]
            + (list(sample.service_call.parameters.values()) if sample.service_call else [])
        )
        grounded_numbers = numbers_in(grounding_text)
        for number in dict.fromkeys(int(n) for n in DIGITS.findall(text)):
            if number not in grounded_numbers:
                found.append(str(number))

        tokens = set(norm.split())
        for action in sample.system_actions:
            if action.act.upper() not in {"OFFER", "INFORM", "CONFIRM"} or not action.slot:
                continue
            reference = {variant for forms in action_values(action) for form in forms for variant in value_variants(form)}
            others: dict[str, str] = {}
            for row in sample.service_results:
                value = row.get(action.slot)
                if not isinstance(value, str) or is_boolean(value) or len(value.strip()) < 2:
                    continue
                variants = value_variants(value)
                same = any(v == r or contains_phrase(r, v) or contains_phrase(v, r) for v in variants for r in reference)
                if variants and not same:
                    others[variants[0]] = value
            for value in others.values():
                # The other value's digits are grounded too, so it was not counted above.
                if value_match(value, norm, tokens) == 1.0 and value not in found:
                    found.append(value)
        return found

    @staticmethod
    def _copied_fraction(sample: Sample, words: list[str]) -> float:
        """The share of the response's word trigrams copied from the instructions or the task description (the
        system message) that the conversation, the service values and the reference do not also contain."""
        grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
        if not grams:
            return 0.0
        source = [sample.task_description]
        allowed = [sample.ground_truth]
        if not isinstance(sample.prompt, str):
            for message in sample.prompt:
                (source if message.role == "system" else allowed).append(message.content)
        allowed += [str(v) for row in sample.service_results for v in row.values()]
        allowed += [v for action in sample.system_actions for v in action.values + action.canonical_values]

        def trigrams(texts: list[str]) -> set[tuple[str, ...]]:
            found: set[tuple[str, ...]] = set()
            for text in texts:
                parts = normalize(text).split()
                found.update(tuple(parts[i : i + 3]) for i in range(len(parts) - 2))
            return found

        copied = trigrams(source) - trigrams(allowed)
        return sum(1 for gram in grams if gram in copied) / len(grams)

    @staticmethod
    def _extra_requests(sample: Sample, text: str) -> list[str]:
        questions = [normalize(q) for q in re.findall(r"[^.!?]*\?", text)]
        if not questions:
            return []
        question_stems = {stem(w) for q in questions for w in q.split()}
        # The service's own words ("Which city would you like the dentist in?" for Dentists_9) are not requests.
        referenced = {stem(w.lower()) for name in sample.services for w in re.findall(r"[A-Z][a-z]+|[a-z]+", name)}
        for action in sample.system_actions:
            referenced |= slot_words(action.slot) if action.slot not in {"intent", "count", ""} else set()
            for value in action.values + action.canonical_values:
                referenced |= {stem(w) for w in normalize(value).split()}
                if action.slot == "intent":
                    referenced |= intent_words(value)
        return [word for key, word in SLOT_VOCABULARY.items() if key in question_stems and key not in referenced]

    @staticmethod
    def _leaks(sample: Sample, text: str) -> list[str]:
        leaks = set(SNAKE_TOKEN.findall(text))
        names = {v for a in sample.system_actions if a.slot == "intent" for v in a.values} | set(sample.services)
        if sample.service_call:
            names.add(sample.service_call.method)
        leaks |= {name for name in names if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text)}
        return sorted(leaks)


def ask_and_name(asks: bool, named: bool) -> float:
    """A request (or an offer of an intent): 1.0 asking about the right thing, 0.5 naming it without asking, 0.25
    asking about something else. Any question gets something, but a generic one ("Could you tell me more?") little:
    GRPO on an earlier 0.5 for any question learned to ask a question every turn."""
    if asks and named:
        return 1.0
    return 0.5 if named else 0.25 if asks else 0.0


def action_values(action: SystemAction) -> list[list[str]]:
    """Each value of an action with its other forms: the words of the reference turn and the service's canonical
    value (`7 pm` and `19:00`); `dontcare` left out."""
    surface = [v for v in action.values if v and v.lower() != "dontcare"]
    canonical = [v for v in action.canonical_values if v and v.lower() != "dontcare"]
    if len(surface) == len(canonical):
        return [[s, c] if s != c else [s] for s, c in zip(surface, canonical, strict=True)]
    return [[v] for v in surface or canonical]


def numbers_in(text: str) -> set[int]:
    """The numbers `text` states, in digits or words, and each clock time's hour in its 12- and 24-hour forms."""
    found = {int(word) for word in normalize(text).split() if word.isdigit()}
    for match in TIME_IN_TEXT.finditer(text):
        hour = int(match.group(1) or match.group(2))
        if hour <= 24:
            found.add(hour % 12 or 12)
            found.add((hour % 12) + 12)
    return found


def prompt_text(sample: Sample) -> str:
    if isinstance(sample.prompt, str):
        return sample.prompt
    return "\n".join(message.content for message in sample.prompt)


def word_f1(response_norm: str, reference_norm: str) -> float:
    response = [w for w in response_norm.split() if w not in STOPWORDS]
    reference = [w for w in reference_norm.split() if w not in STOPWORDS]
    if not response or not reference:
        return 0.0
    common = 0
    pool = list(reference)
    for word in response:
        if word in pool:
            pool.remove(word)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(response), common / len(reference)
    return 2 * precision * recall / (precision + recall)
