"""A short fuzz campaign (tests/fuzz.py) over mutated images and model packs: every case is an answer
or an EdgefaceError; no crash, hang, other exception or memory blow-up. The long run is
`python tests/fuzz.py --images 7000 --videos 1000 --packs 1500 --labels 500` (SECURITY.md)."""

import fuzz


def test_the_harness_sees_every_kind_of_failure():
    result = fuzz.campaign(
        0,
        0,
        batch=10,
        stall_seconds=8,
        progress=False,
        extra_cases=[
            {"kind": "selftest", "do": do} for do in ("raise", "slow", "allocate", "segfault", "stall", "raise")
        ],
    )
    counts = result["counts"]["selftest"]
    assert counts == {"ok": 0, "refused": 0, "exception": 2, "hang": 2, "crash": 1, "memory": 1}, counts
    assert result["unclean"] == 6


def test_short_campaign_is_clean():
    result = fuzz.campaign(images=400, packs=40, videos=40, labels=40, seed=1, batch=150, progress=False)
    assert result["unclean"] == 0, result["examples"][:3]
    for kind in ("image", "pack", "video", "labels"):
        counts = result["counts"][kind]
        assert counts["refused"] > 0 and counts["ok"] > 0, (kind, counts)  # mutations both pass and fail
