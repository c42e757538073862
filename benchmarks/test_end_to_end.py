"""benchmarks/end_to_end.py's own parts, without MediaPipe: what the detector costs by frame (the
passes its README table states) and the page it writes. The side-by-side run itself needs MediaPipe's
environment: `python benchmarks/end_to_end.py --mediapipe-python <env>/bin/python`."""

import argparse

import end_to_end

import edgeface
from edgeface.tools import bench


def test_detector_costs_say_how_many_passes_each_frame_takes():
    face_image = bench.sample_image()
    costs = end_to_end.detector_costs(edgeface.Reconstructor(num_threads=1), face_image, rounds=1)
    assert costs["photo with a face"]["passes"] == 1 and costs["photo with a face"]["faces"] == 1
    assert costs["photo-sized, no face"]["passes"] == 2 and costs["photo-sized, no face"]["faces"] == 0
    assert costs["1920x1080"]["passes"] > 2 and costs["1920x1080"]["faces"] == 1
    assert all(c["ms"] > 0 for c in costs.values())


def test_the_page_has_every_case_and_stage():
    face_image = bench.sample_image()
    rec = edgeface.Reconstructor(num_threads=1)
    stages = {"photo, default (refine)": bench.split(lambda: rec(face_image), rec, 1, 1)}
    median = {"photo, edgeface default (refine)": 6.0, "photo, MediaPipe FaceMesh": 8.0}
    ratio = {k: v / 8.0 for k, v in median.items()}
    detection = {"photo with a face": {"ms": 2.0, "passes": 1, "faces": 1}}
    page = end_to_end.markdown(
        "0.5.0",
        "tflite fp32",
        "0.10.14",
        "avx2",
        argparse.Namespace(core=0, rounds=1),
        1,
        median,
        ratio,
        {"edgeface": 1, "mediapipe": 1},
        stages,
        detection,
        "python x",
    )
    assert "| photo, edgeface default (refine) | 6.00 | 0.75x |" in page
    assert "| photo, default (refine) |" in page and "| photo with a face | 2.00 | 1 | 1 |" in page


def test_crop_costs_cover_a_photo_and_a_4k_frame():
    costs = end_to_end.crop_costs(edgeface.Reconstructor(num_threads=1), bench.sample_image(), rounds=1)
    assert "450 px photo, its face" in costs and "3840x2160 frame, 1500 px crop" in costs
    assert all(ms > 0 for ms in costs.values())
    assert "| 450 px photo, its face |" in end_to_end.crops_markdown(costs)
