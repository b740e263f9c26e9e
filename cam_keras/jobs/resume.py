"""Resuming a job only where it is the same job: the model, settings and inputs recorded when
it started must be this run's, or its outputs would mix."""

from __future__ import annotations

from pathlib import Path

from cam_keras.errors import OutputFolderError, UsageError, option
from cam_keras.jobs.identity import INPUTS, job_differences
from cam_keras.jobs.report import read_json
from cam_keras.jobs.shards import JOB, REPORT, TABLE, Shard, job_file
from cam_keras.outdir import OutputFolder


def check_same_job(out: OutputFolder, shard: Shard | None, job: dict) -> None:
    """Refuse to resume a job that was started with another model, other settings or over
    other inputs (its outputs would mix), or whose identity is lost while it has outputs.
    The identity is kept twice, in the report and in the job file, so losing one is harmless."""
    recorded = {
        name: _recorded_identity(out.root / name)
        for name in (job_file(REPORT, shard, ".json"), job_file(JOB, shard, ".json"))
    }
    identities = [found for found, _ in recorded.values() if found is not None]
    if not identities and (out.root / job_file(TABLE, shard, ".csv")).exists():
        problems = "; ".join(f"{name} {problem}" for name, (_, problem) in recorded.items())
        raise OutputFolderError(
            f"cannot tell which model, settings and inputs the job in {out.root} started with ({problems}), so "
            f"its outputs could mix with this run's; pass {option('overwrite', True)} to start again"
        )
    for earlier in identities:
        _refuse_other_job(out.root, earlier, job)


def _refuse_other_job(folder: Path, earlier: dict, job: dict) -> None:
    inputs, changes = job_differences(earlier, job)
    if inputs:
        raise UsageError(
            f"the inputs of the job in {folder} changed since it started ({inputs}); resume over the same "
            f"inputs, or pass {option('overwrite', True)} to start again"
        )
    if changes:
        raise UsageError(
            f"the job in {folder} was started with other settings "
            f"({'; '.join(changes)}); resume with the same model file and options, or pass "
            f"{option('overwrite', True)} to start again"
        )


def _recorded_identity(path: Path) -> tuple[dict | None, str | None]:
    """The job identity recorded in ``path`` (a report or job file), or why there is none."""
    try:
        recorded = read_json(path)
    except FileNotFoundError:
        return None, "is missing"
    except (OSError, ValueError) as error:
        return None, f"is unreadable ({type(error).__name__}: {error})"
    job = recorded.get("job") if isinstance(recorded, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get(INPUTS), dict):
        return None, "holds no job identity"
    return job, None
