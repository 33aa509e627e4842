"""Judge prompt templates: a `[system]` and a `[user]` part with `$placeholders`, versioned for the cache key.

Each judge form (one reply, a GRPO group, a pair) has its own packaged template and its own placeholders.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from teachkit.errors import InputError
from teachkit.records import Sample

TEMPLATES_DIR = Path(__file__).parents[1]
SAMPLE_FIELDS = frozenset({"task", "context", "service_results", "actions", "reference", "rubric"})
MAX_RESULT_ROWS = 10
_VERSION_LINE = re.compile(r"^#\s*version:\s*(\S+)\s*$")


@dataclass(frozen=True)
class TemplateForm:
    """What one kind of judge prompt shows: its packaged file, its placeholders, and the ones it cannot do without."""

    name: str
    default_file: Path
    fields: frozenset[str]
    required: tuple[str, ...]
    shows: str  # what the required placeholders hold, for the error message


SINGLE = TemplateForm("judge", TEMPLATES_DIR / "judge_template.txt", SAMPLE_FIELDS | {"response"}, ("response",),
                      "the reply to grade")
GROUP = TemplateForm("group judge", TEMPLATES_DIR / "group_judge_template.txt",
                     SAMPLE_FIELDS | {"responses", "labels", "count"}, ("responses",), "the labelled replies")
PAIRWISE = TemplateForm("pairwise judge", TEMPLATES_DIR / "pairwise_judge_template.txt",
                        SAMPLE_FIELDS | {"first", "second"}, ("first", "second"), "the two replies to compare")
TEMPLATE_FILE = SINGLE.default_file
TEMPLATE_FIELDS = set(SINGLE.fields)


@dataclass(frozen=True)
class JudgeTemplate:
    """The judge prompt: a `[system]` and a `[user]` part with `$placeholders`, and a version for the cache key.

    `version` is the file's declared `# version:` plus a hash of its text, so an edited template never reads
    scores cached under the old one.
    """

    version: str
    system: str
    user: str
    source: str

    @classmethod
    def load(cls, path: Path | None = None, form: TemplateForm = SINGLE) -> JudgeTemplate:
        source = Path(path) if path else form.default_file
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{source}: judge template not found; pass an existing file to --judge-template") from None
        except UnicodeDecodeError:
            raise InputError(f"{source}: judge template is not UTF-8 text") from None
        declared = "custom"
        sections: dict[str, list[str]] = {}
        current: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if current is None and (stripped.startswith("#") or not stripped):
                match = _VERSION_LINE.match(stripped)
                if match:
                    declared = match.group(1)
                continue
            if stripped in ("[system]", "[user]"):
                current = stripped[1:-1]
                if current in sections:
                    raise InputError(f"{source}:{number}: section {stripped} appears twice")
                sections[current] = []
                continue
            if current is None:
                raise InputError(f"{source}:{number}: text before the first section; start it with [system] or [user]")
            sections[current].append(line)
        if "user" not in sections:
            raise InputError(f"{source}: no [user] section; the {form.name} template needs one holding "
                             f"{' and '.join('$' + name for name in form.required)}")
        system = "\n".join(sections.get("system", [])).strip()
        user = "\n".join(sections["user"]).strip()
        for name, part in (("system", system), ("user", user)):
            template = Template(part)
            if not template.is_valid():
                raise InputError(f"{source}: [{name}] has a malformed placeholder; write $$ for a dollar sign")
            unknown = set(template.get_identifiers()) - form.fields
            if unknown:
                raise InputError(
                    f"{source}: [{name}] uses unknown placeholder(s) {', '.join('$' + u for u in sorted(unknown))}; "
                    f"a {form.name} template knows {', '.join('$' + f for f in sorted(form.fields))}"
                )
        missing = [name for name in form.required if name not in Template(system + "\n" + user).get_identifiers()]
        if missing:
            raise InputError(f"{source}: the template never shows {form.shows}; add "
                             f"{' and '.join('$' + name for name in missing)}")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return cls(version=f"{declared}+{digest}", system=system, user=user, source=str(source))

    def render(self, sample: Sample, response: str) -> list[dict[str, str]]:
        """The messages that ask for one reply's score."""
        return self.render_fields(template_fields(sample, response))

    def render_fields(self, fields: dict[str, str]) -> list[dict[str, str]]:
        messages = []
        if self.system:
            messages.append({"role": "system", "content": Template(self.system).substitute(fields)})
        messages.append({"role": "user", "content": Template(self.user).substitute(fields)})
        return messages


def template_fields(sample: Sample, response: str) -> dict[str, str]:
    return {**sample_fields(sample), "response": response}


def sample_fields(sample: Sample) -> dict[str, str]:
    """What every judge prompt may show of the sample: task, context, service results, acts, reference, rubric."""
    if isinstance(sample.prompt, str):
        context = sample.prompt
    else:
        context = "\n".join(f"{m.role.upper()}: {m.content}" for m in sample.prompt)
    rows = sample.service_results[:MAX_RESULT_ROWS]
    results = "\n".join(json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows) or "(none)"
    if len(sample.service_results) > MAX_RESULT_ROWS:
        results += f"\n(... {len(sample.service_results) - MAX_RESULT_ROWS} more)"
    actions = "; ".join(
        " ".join(part for part in (a.act, a.slot, "=" + " | ".join(a.values) if a.values else "") if part)
        for a in sample.system_actions
    ) or "(not given)"
    rubric = "\n".join(f"- {item}" for item in sample.rubric) if sample.rubric else "(none: use the reference reply)"
    return {
        "task": sample.task_description or "(not given)",
        "context": context,
        "service_results": results,
        "actions": actions,
        "reference": sample.ground_truth,
        "rubric": rubric,
    }
