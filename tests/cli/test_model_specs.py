"""One model grammar on the command line: `local:PATH` names a student in crafter finetune, dagger and eval and in
sgd train and eval, and a spec that cannot play a role stops the command with one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.jsonl import read_records
from teachkit.records import Episode
from tests.crafter.test_finetune import write_examples
from tests.sgd.test_evaluate import eval_file
from tests.sgd.test_train import training_samples

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_a_local_spec_is_the_student_of_crafter_finetune_and_eval(tiny_model_dir: Path, tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.jsonl", "messages")
    student = tmp_path / "student"
    trained = invoke("--json", "crafter", "finetune", str(train), "--backend", "local", "--model",
                     f"local:{tiny_model_dir}", "--output-dir", str(student), "--max-steps", "1", "--batch-size", "4",
                     "--lora-r", "2")
    assert trained.exit_code == 0, trained.output
    assert (student / "adapter_model.safetensors").is_file()
    record = json.loads((student / "teachkit-training.json").read_text())
    assert record["base_model"] == f"local:{tiny_model_dir}"
    assert record["base_model_path"] == str(tiny_model_dir.resolve())

    out = tmp_path / "eval.json"
    evaluated = invoke("--json", "crafter", "eval", "--policy", f"local:{student}", "--baseline",
                       f"local:{tiny_model_dir}", "--episodes", "1", "--max-steps", "4", "--out", str(out))
    assert evaluated.exit_code == 0, evaluated.output
    policies = json.loads(out.read_text())["policies"]
    assert policies["policy"]["spec"] == f"local:{student}"
    assert policies["baseline"]["spec"] == f"local:{tiny_model_dir}"
    assert policies["policy"]["loaded"] == f"{student} (adapter on {tiny_model_dir.resolve()})"
    assert [e.seed for e in read_records(out.with_name("eval.policy.jsonl"), Episode)] == [1000]


def test_a_local_spec_is_the_student_of_crafter_dagger(tiny_model_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEACHKIT_CRAFTER__EVAL__MAX_STEPS", "4")
    monkeypatch.setenv("TEACHKIT_CRAFTER__EVAL__BOOTSTRAP_SAMPLES", "50")
    out = tmp_path / "dagger"
    result = invoke("--json", "crafter", "dagger", "--teacher", "scripted", "--student", f"local:{tiny_model_dir}",
                    "--rounds", "1", "--episodes", "1", "--max-steps", "4", "--eval-episodes", "1", "--beta", "0",
                    "--out-dir", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["student"] == f"local:{tiny_model_dir}" and summary["start_model"] == str(tiny_model_dir)
    assert (out / "student" / "adapter_model.safetensors").is_file()


def test_a_local_spec_is_the_student_of_sgd_train_and_eval(tiny_model_dir: Path, tmp_path: Path) -> None:
    train_file = training_samples(tmp_path / "train.jsonl")
    grpo = tmp_path / "grpo"
    trained = invoke("--json", "sgd", "train", "--train", str(train_file), "--model", f"local:{tiny_model_dir}",
                     "--output-dir", str(grpo), "--max-steps", "1", "--num-generations", "2",
                     "--per-device-train-batch-size", "2", "--max-completion-length", "4", "--judge", "acts")
    assert trained.exit_code == 0, trained.output
    assert (grpo / "adapter_model.safetensors").is_file()

    report = tmp_path / "report.json"
    evaluated = invoke("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--base-model",
                       f"local:{tiny_model_dir}", "--trained", f"local:{grpo}", "--n", "2", "--judge", "acts",
                       "--max-new-tokens", "4", "--out", str(report))
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(report.read_text())
    assert document["base"]["model"] == f"local:{tiny_model_dir}" and document["trained"]["model"] == str(grpo)
    assert document["base"]["scored"] == document["trained"]["scored"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["crafter", "finetune", "{train}", "--backend", "local", "--model", "gemini:gemini-2.5-flash",
      "--output-dir", "{tmp}/out"],
     "--model 'gemini:gemini-2.5-flash': a model served by gemini cannot be a local student"),
    (["crafter", "dagger", "--student", "openai:gpt-4o-mini", "--out-dir", "{tmp}/out"],
     "--student 'openai:gpt-4o-mini': a model served by openai cannot be a local student"),
    (["crafter", "dagger", "--teacher", "{job}", "--out-dir", "{tmp}/out"],
     "a Vertex tuning job record cannot be a teacher; it can serve as a policy"),
    (["crafter", "rollout", "--teacher", "gemini-2.5-flash", "--out", "{tmp}/out/e.jsonl"],
     "--teacher 'gemini-2.5-flash': unknown teacher: missing provider"),
    (["crafter", "eval", "--policy", "anthropic:claude", "--out", "{tmp}/out/eval.json"],
     "unknown provider 'anthropic'"),
    (["sgd", "train", "--train", "{train}", "--model", "scripted", "--output-dir", "{tmp}/out"],
     "--model 'scripted': the built-in scripted policy cannot be a local student (trained or run here); it can "
     "serve as a policy or a teacher"),
    (["sgd", "eval", "--eval", "{train}", "--base-model", "vertex:gemini-2.5-flash", "--judge", "acts",
      "--out", "{tmp}/out/r.json"],
     "--base-model 'vertex:gemini-2.5-flash': a model served by vertex cannot be a local student"),
    (["sgd", "eval", "--eval", "{train}", "--trained", "gemini:x", "--judge", "acts", "--out", "{tmp}/out/r.json"],
     "--trained 'gemini:x': a model served by gemini cannot be a local student"),
    (["sgd", "rubric", "{train}", "--judge-model", "random", "--out", "{tmp}/out/r.jsonl"],
     "--judge-model 'random': the built-in random policy cannot be a judge"),
    (["ask", "hi", "--model", "scripted"], "--model 'scripted': the built-in scripted policy plays Crafter"),
])
def test_a_spec_that_cannot_play_the_role_is_one_line_and_exit_2(args: list[str], message: str,
                                                                 tmp_path: Path) -> None:
    from teachkit.records import TrainingData, TuningJob
    from teachkit.vertex.job_records import write_job_record

    train = training_samples(tmp_path / "train.jsonl") if "sgd" in args else \
        write_examples(tmp_path / "train.jsonl", "messages")
    job = tmp_path / "train.tuning-9.json"
    write_job_record(job, TuningJob(
        name="projects/p/locations/l/tuningJobs/9", state="JOB_STATE_SUCCEEDED", project="p", location="l",
        base_model="gemini-2.5-flash", display_name="x", training_data=TrainingData(path="t", sha256="0" * 64)))
    result = invoke(*[arg.format(train=train, tmp=tmp_path, job=job) for arg in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
