"""Latency: `pytest benchmarks/ --benchmark-only` (add --benchmark-json FILE for the report).

Every case of edgeface.bench: the network per installed backend x precision x threads x batch,
pre/post-processing, one photo end to end, a video frame in tracking mode, and MediaPipe's
face-landmark network and FaceMesh pipeline where the `bench` extra installed them. Each case
also checks its output, so the short CI run (few rounds) still tests every installed backend.
"""
import pytest

from edgeface import backends, bench
from edgeface.model import DEFAULT_PACK, MANIFEST_NAME

CASES = bench.cases() if (DEFAULT_PACK / MANIFEST_NAME).exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_latency(benchmark, case):
    benchmark.group = case.group
    benchmark.extra_info["note"] = case.note
    fn = case.make()
    result = benchmark(fn)
    assert case.check(result), case.name


def test_every_installed_backend_has_a_network_case():
    if not CASES:
        pytest.skip("no default model in this build")
    covered = {c.name.split("/")[1] for c in CASES if c.group == "network"}
    for backend in backends.installed():
        if backend != "torch":
            assert backend in covered
