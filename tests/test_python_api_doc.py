"""docs/python-api.md's example runs as written."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "python_api_example"})
    printed = capsys.readouterr().out
    assert re.search(r"^2 episodes, Crafter score", printed, flags=re.M)
    assert re.search(r"^\d+ training examples", printed, flags=re.M)
    assert re.search(r"^\d+ SGD samples, \d+ held out", printed, flags=re.M)
    assert (tmp_path / "runs" / "api-example" / "train.messages.jsonl").stat().st_size > 0
