"""Resumable sweeps with real worker processes and a real dask LocalCluster."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from tests_support import square

from sobolev_lab.results import CorruptResultError, read_result, write_result
from sobolev_lab.sweep import cell_path, run_sweep

CONFIGS = [{"i": i} for i in range(6)]
EXPECTED = [square(c) for c in CONFIGS]


@pytest.mark.parametrize("backend", ["sequential", "loky"])
def test_sweep_runs_every_cell_and_skips_finished_ones(tmp_path, backend):
    res = run_sweep(square, CONFIGS, tmp_path, backend=backend, n_jobs=2, progress=False)
    assert res.payloads == EXPECTED and (res.done, res.skipped, res.failed) == (6, 0, 0)
    mtimes = [cell_path(tmp_path, c).stat().st_mtime_ns for c in CONFIGS]
    again = run_sweep(square, CONFIGS, tmp_path, backend=backend, progress=False)
    assert again.payloads == EXPECTED and (again.done, again.skipped) == (0, 6)
    assert [cell_path(tmp_path, c).stat().st_mtime_ns for c in CONFIGS] == mtimes


def test_dask_backend_on_a_real_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        processes=True,
    ) as cluster:
        res = run_sweep(
            square,
            CONFIGS,
            tmp_path,
            backend="dask",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert res.payloads == EXPECTED and res.done == 6


def test_failed_cells_are_recorded_and_only_they_are_retried(tmp_path):
    configs = [*CONFIGS[:3], {"i": 3, "fail": True}]
    res = run_sweep(square, configs, tmp_path, backend="sequential", progress=False)
    assert res.payloads[:3] == EXPECTED[:3] and res.payloads[3] is None
    assert res.failed == 1 and "failed on purpose" in next(iter(res.errors.values()))
    doc = read_result(cell_path(tmp_path, configs[3]))
    assert doc["payload"]["status"] == "failed"
    again = run_sweep(square, configs, tmp_path, backend="sequential", progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 3, 1)
    with pytest.raises(RuntimeError, match=r"1 of 4 cells failed(.|\n)*failed on purpose"):
        again.raise_on_failure()
    run_sweep(square, CONFIGS, tmp_path, backend="sequential", progress=False).raise_on_failure()


def test_corrupt_and_missing_cells_are_recomputed(tmp_path):
    run_sweep(square, CONFIGS, tmp_path, backend="sequential", progress=False)
    cell_path(tmp_path, CONFIGS[0]).unlink()
    p = cell_path(tmp_path, CONFIGS[1])
    p.write_text(p.read_text()[:40])  # truncated
    q = cell_path(tmp_path, CONFIGS[2])
    q.write_text(q.read_text().replace('"square": 4', '"square": 5'))  # edited
    with pytest.raises(CorruptResultError):
        read_result(q)
    with pytest.warns(RuntimeWarning, match="recomputing cell"):
        res = run_sweep(square, CONFIGS, tmp_path, backend="sequential", progress=False)
    assert res.payloads == EXPECTED and (res.done, res.skipped) == (3, 3)


def test_killed_sweep_resumes_to_the_same_results(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from sobolev_lab.sweep import run_sweep
        from tests_support import square
        configs = [{{"i": i, "sleep": 0.3}} for i in range(12)]
        run_sweep(square, configs, {str(tmp_path)!r}, backend="sequential", progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    cells = tmp_path / "cells"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(cells.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    finished = sorted(cells.glob("*.json"))
    assert 3 <= len(finished) < 12, "the sweep should have been killed mid-run"
    mtimes = {p: p.stat().st_mtime_ns for p in finished}
    configs = [{"i": i, "sleep": 0.3} for i in range(12)]
    res = run_sweep(square, configs, tmp_path, backend="sequential", progress=False)
    assert res.skipped == len(finished) and res.done == 12 - len(finished)
    assert res.payloads == [square({"i": i}) for i in range(12)]
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())


def test_bad_sweep_arguments(tmp_path):
    with pytest.raises(ValueError, match="backend must be"):
        run_sweep(square, CONFIGS, tmp_path, backend="threads")
    with pytest.raises(ValueError, match="needs scheduler"):
        run_sweep(square, CONFIGS, tmp_path, backend="dask")
    with pytest.raises(ValueError, match="n_jobs must be a positive integer"):
        run_sweep(square, CONFIGS, tmp_path, n_jobs=0)
    with pytest.raises(ValueError, match="config must be JSON-serialisable"):
        run_sweep(square, [{"i": object()}], tmp_path)


def test_result_files_record_provenance(tmp_path):
    path = write_result(tmp_path / "r.json", {"a": [1.5]}, {"seed": 3})
    doc = json.loads(path.read_text())
    assert doc["config"] == {"seed": 3}
    assert doc["environment"]["packages"]["torch"]
    assert doc["environment"]["packages"]["smt"]  # the peers' library (a test dependency)
    assert "git_commit" in doc["environment"] and doc["environment"]["python"]
    assert read_result(path)["payload"] == {"a": [1.5]}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_mean_sem_against_scipy_and_for_a_single_value():
    from scipy import stats

    from sobolev_lab.stats import mean_sem

    a = np.array([0.3, 1.7, 2.2, 0.9, 4.1])
    mean, sem = mean_sem(a)
    assert mean == pytest.approx(a.mean()) and sem == pytest.approx(stats.sem(a))
    table = np.stack([a, 2 * a], axis=1)  # (seeds, columns)
    means, sems = mean_sem(table)
    np.testing.assert_allclose(means, [a.mean(), 2 * a.mean()])
    np.testing.assert_allclose(sems, stats.sem(table, axis=0))
    assert mean_sem([2.5]) == (2.5, 0.0)
    assert mean_sem([2.5], single=None) == (2.5, None)
    np.testing.assert_array_equal(mean_sem(table[:1])[1], [0.0, 0.0])
