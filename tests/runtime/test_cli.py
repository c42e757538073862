"""The `edgeface` command on images, folders and videos, with every installed backend."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeface.cli import main


@pytest.mark.parametrize("backend", ["onnx", "openvino", "tflite", "torch"])
def test_run_writes_overlay_obj_and_json(backend, installed_backends, fixture_pack, dev_set, tmp_path, capsys):
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    image = dev_set.image_path(0)
    assert main(["run", str(image), "--backend", backend, "--model", str(fixture_pack), "--out", str(tmp_path)]) == 0
    stem = image.stem
    overlay = cv2.imread(str(tmp_path / f"{stem}_overlay.png"))
    assert overlay.shape == cv2.imread(str(image)).shape
    data = json.loads((tmp_path / f"{stem}_face0.json").read_text())
    assert np.array(data["landmarks"]).shape == (68, 3)
    obj = (tmp_path / f"{stem}_face0.obj").read_text()
    assert obj.count("\nv ") == 520
    assert f"backend='{backend}'" in capsys.readouterr().out


def test_run_refines_unless_told_not_to(fixture_pack, dev_set, tmp_path):
    """`run` reads a photo as the SDK does by default (two passes); --no-refine keeps the first
    pass, whose crop is the detector's."""
    import edgeface

    image = dev_set.image_path(0)
    crops = {}
    for flag in ([], ["--no-refine"]):
        out = tmp_path / (flag[0] if flag else "default")
        assert (
            main(["run", str(image), "--backend", "onnx", "--model", str(fixture_pack), "--out", str(out), *flag]) == 0
        )
        crops[bool(flag)] = json.loads((out / f"{image.stem}_face0.json").read_text())["crop"]
    for one_pass in (False, True):
        face = edgeface.Reconstructor("onnx", model=fixture_pack, refine=not one_pass)(str(image))[0]
        assert crops[one_pass] == pytest.approx(list(face.crop), abs=1e-3)
    assert crops[True] != pytest.approx(crops[False], abs=0.01)


def test_run_on_a_folder_skips_bad_files_and_reports_them(fixture_pack, dev_set, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        shutil.copy(dev_set.image_path(i), folder / f"face{i}.jpg")
    (folder / "broken.jpg").write_text("not an image")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--model", str(fixture_pack), "--out", str(out)]) == 1  # partial
    assert sorted(p.name for p in out.glob("*_overlay.png")) == ["face0_overlay.png", "face1_overlay.png"]
    err = capsys.readouterr().err
    assert "broken.jpg: skipped: cannot decode" in err and "1 of 3 images skipped" in err


def test_run_on_a_video_tracks(fixture_pack, face_image, tmp_path, capsys):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (640, 480))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4")
    for i in range(10):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[15:465, 40 + 5 * i : 490 + 5 * i] = face_image
        writer.write(frame)
    writer.release()
    assert main(["run", str(path), "--model", str(fixture_pack), "--out", str(tmp_path / "out")]) == 0
    tracks = json.loads((tmp_path / "out" / "clip_tracks.json").read_text())
    assert tracks["fps"] == pytest.approx(15) and tracks["source"] == str(path)
    frames = tracks["frames"]
    assert [t["frame"] for t in frames] == list(range(10)) and all(len(t["faces"]) == 1 for t in frames)
    assert [t["time"] for t in frames] == pytest.approx([i / 15 for i in range(10)], abs=1e-3)
    assert {f["track_id"] for t in frames for f in t["faces"]} == {0}
    assert all(0 < f["score"] <= 1 for t in frames for f in t["faces"])
    out = capsys.readouterr().out
    assert "detector ran on 1" in out and "1 tracks" in out
    overlay = cv2.VideoCapture(str(tmp_path / "out" / "clip_overlay.mp4"))
    assert int(overlay.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    codec = int(overlay.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    try:
        import imageio_ffmpeg  # noqa: F401

        assert codec in ("h264", "avc1") and "overlay h264" in out  # plays in browsers
    except ImportError:
        assert codec in ("mp4v", "fmp4")  # MPEG-4 part 2, which FFmpeg reads back as FMP4


def test_video_keeps_every_face_like_images_unless_max_faces_says(face_image, tmp_path, capsys):
    """Two faces side by side: both tracked by default (as images report all faces), one with --max-faces 1."""
    path = tmp_path / "two.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (900, 450))
    for _ in range(4):
        writer.write(np.concatenate([face_image, face_image[:, ::-1]], axis=1)[:, :900])
    writer.release()
    assert main(["run", str(path), "--out", str(tmp_path / "all")]) == 0
    frames = json.loads((tmp_path / "all" / "two_tracks.json").read_text())["frames"]
    assert all(len(t["faces"]) == 2 for t in frames)
    assert {f["track_id"] for t in frames for f in t["faces"]} == {0, 1}
    assert main(["run", str(path), "--max-faces", "1", "--out", str(tmp_path / "one")]) == 0
    frames = json.loads((tmp_path / "one" / "two_tracks.json").read_text())["frames"]
    assert all(len(t["faces"]) == 1 for t in frames)


def test_a_camera_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "7", "--out", str(tmp_path / "out")]) == 2
    assert "cannot open camera 7" in capsys.readouterr().err


def test_errors_are_one_line_not_tracebacks(fixture_pack, tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.jpg"), "--model", str(fixture_pack)]) == 2
    assert "edgeface: error: input not found" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--model", str(tmp_path / "nopack")]) == 2
    assert "no model pack" in capsys.readouterr().err


def test_info_lists_backends_and_model(fixture_pack, installed_backends, capsys):
    assert main(["info", "--model", str(fixture_pack)]) == 0
    out = capsys.readouterr().out
    for backend in installed_backends:
        assert f"{backend} " in out and "installed" in out
    assert "edgeface-test-fixture (test-fixture)" in out
    assert "cascade (default)" in out and "blazeface_short" in out


def test_evaluate_writes_the_documented_keys(fixture_pack, dev_set, tmp_path):
    path = tmp_path / "result.json"
    assert (
        main(
            [
                "evaluate",
                "--root",
                str(dev_set.root),
                "--model",
                str(fixture_pack),
                "--backend",
                "onnx",
                "--limit",
                "12",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    result = json.loads(path.read_text())
    for key in (
        "nme_0_30",
        "nme_30_60",
        "nme_60_90",
        "nme_balanced",
        "nme_mean",
        "pose_mae_deg",
        "detected_fraction",
        "n_images",
    ):
        assert key in result
    assert result["n_images"] == 12 and result["detected_fraction"] == 1.0
    # an untrained fixture is far from the truth, but its error is finite and positive
    assert 0 < result["nme_mean"] < 1


def test_console_script_is_installed():
    exe = shutil.which("edgeface")
    if exe is None:
        pytest.skip("package not installed (pip install -e .)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("edgeface ")


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "edgeface", "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "evaluate" in out.stdout


# --- the CLI never loses output nor lies about it (issue 18); every case with its exit code ---

import os  # noqa: E402

from edgeface.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL  # noqa: E402


def _clip(path, face_image, frames=30, fourcc="MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 15, (640, 480))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[15:465, 40 + 2 * i : 490 + 2 * i] = face_image
        writer.write(frame)
    writer.release()
    return path


def test_same_name_other_extension_never_overwrite(fixture_pack, face_image, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.jpg"), face_image)
    cv2.imwrite(str(folder / "photo.png"), face_image[:, ::-1])
    cv2.imwrite(str(folder / "other.jpg"), face_image)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--model", str(fixture_pack), "--out", str(out)]) == EXIT_OK
    names = sorted(p.name for p in out.glob("*_face0.json"))
    assert names == ["other_face0.json", "photo_jpg_face0.json", "photo_png_face0.json"]
    a, b = (json.loads((out / n).read_text())["box"] for n in names[1:])
    assert a != b  # one image is the other mirrored: two results, not one twice


def test_a_250_character_name_is_shortened_not_a_crash(fixture_pack, face_image, tmp_path, capsys):
    name = "f" * 250 + ".jpg"
    cv2.imwrite(str(tmp_path / name), face_image)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / name), "--model", str(fixture_pack), "--out", str(out)]) == EXIT_OK
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 3 and all(len(n.encode()) <= 255 for n in written)


def test_out_naming_a_file_is_refused_before_any_work(fixture_pack, face_image, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), face_image)
    (tmp_path / "taken").write_text("")
    assert (
        main(["run", str(tmp_path / "a.jpg"), "--model", str(fixture_pack), "--out", str(tmp_path / "taken")])
        == EXIT_ERROR
    )
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["proc", "read-only"])
def test_unwritable_out_is_refused_before_the_first_frame(fixture_pack, face_image, tmp_path, capsys, how):
    clip = _clip(tmp_path / "clip.avi", face_image, frames=5)
    if how == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the /proc case covers this")
        out = tmp_path / "locked"
        out.mkdir(mode=0o500)
    else:
        out = "/proc/edgeface_out"
    assert main(["run", str(clip), "--model", str(fixture_pack), "--out", str(out)]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert "cannot write results to --out" in captured.err
    assert "frames" not in captured.out  # refused before decoding anything


def test_a_folder_with_unreadable_files_exits_partial(fixture_pack, face_image, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.jpg"), face_image)
    for i in range(5):
        (folder / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes(100))
    assert main(["run", str(folder), "--model", str(fixture_pack), "--out", str(tmp_path / "out")]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert all(f"bad{i}.jpg: skipped" in err for i in range(5)) and "5 of 6 images skipped" in err
    assert (tmp_path / "out" / "good_overlay.png").exists()


def test_a_truncated_video_exits_partial(fixture_pack, face_image, tmp_path, capsys):
    clip = _clip(tmp_path / "clip.avi", face_image)
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    assert main(["run", str(clip), "--model", str(fixture_pack), "--out", str(tmp_path / "out")]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "ended after" in err and "of the 30 frames" in err
    frames = json.loads((tmp_path / "out" / "clip_tracks.json").read_text())["frames"]  # still valid JSON
    assert 0 < len(frames) < 30


def test_a_bit_flipped_video_is_never_a_silent_success(fixture_pack, face_image, tmp_path, capsys):
    clip = _clip(tmp_path / "clip.mp4", face_image, fourcc="mp4v")
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(1)
    for i in rng.integers(len(data) // 10, len(data), 200):
        data[i] ^= 0xFF
    clip.write_bytes(bytes(data))
    code = main(["run", str(clip), "--model", str(fixture_pack), "--out", str(tmp_path / "out")])
    assert code in (EXIT_PARTIAL, EXIT_ERROR)
    assert "edgeface" in capsys.readouterr().err


def test_a_video_with_no_decodable_frame_is_an_error(fixture_pack, tmp_path, capsys):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 5000)
    assert (
        main(["run", str(tmp_path / "junk.mp4"), "--model", str(fixture_pack), "--out", str(tmp_path / "out")])
        == EXIT_ERROR
    )
    assert "cannot open video" in capsys.readouterr().err


CLI_USER_ERRORS = [
    (["run", "{photo}", "--backend", "foo"], "unknown backend 'foo'"),
    (["run", "{photo}", "--precision", "int4"], "precision must be"),
    (["run", "{photo}", "--max-faces", "-1"], "max_faces must be"),
    (["run", "{photo}", "--threads", "0"], "num_threads must be"),
    (["run", "{photo}", "--threads", "abc"], "invalid int value"),
    (["run", "{photo}", "--out", "{photo}"], "is a file, not a folder"),
    (["benchmark", "--threads", "abc"], "--threads must be positive whole numbers"),
    (["info", "--model", "{deep}"], "nested deeper than"),
    (["run", "{photo}", "--model", "{deep}"], "nested deeper than"),
]


@pytest.mark.parametrize("argv, message", CLI_USER_ERRORS, ids=[" ".join(a[:3]) for a, _ in CLI_USER_ERRORS])
def test_user_errors_are_one_line_in_a_real_process(argv, message, face_image, tmp_path):
    """Run as a user does (a fresh `python -m edgeface.cli` process): exit 2, one line, no traceback."""
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), face_image)
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "edgeface.json").write_text('{"schema": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = [a.format(photo=photo, deep=deep) for a in argv]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeface.cli",
            *args,
            *([] if "--out" in args or args[0] != "run" else ["--out", str(tmp_path / "out")]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == EXIT_ERROR, run.stderr
    assert "Traceback" not in run.stderr and message in run.stderr, run.stderr


def test_runtime_commands_do_not_import_torch(tmp_path, face_image):
    """run and info on a runtime-only install: neither imports torch or the training code."""
    import cv2

    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), face_image)
    code = (
        "import sys; from edgeface.cli import main; "
        f"assert main(['info']) == 0; assert main(['run', {str(photo)!r}, '--out', {str(tmp_path / 'out')!r}]) == 0; "
        "loaded = sorted(m for m in sys.modules "
        "if m == 'torch' or m.startswith(('torch.', 'edgeface.train', 'edgeface.export'))); "
        "assert not loaded, loaded"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "out" / "face_face0.json").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--recipe", "x.json"],
        ["train", "--config", "x.json"],
        ["synthesize", "write", "--out", "x", "--count", "1"],
        ["data", "aflw-shard", "--root", "x"],
        ["export", "--out", "pack"],
        ["align-landmarks", "--model", "pack"],
    ],
)
def test_training_commands_without_the_train_extra_name_it(command, monkeypatch, capsys):
    from edgeface.cli import EXIT_ERROR
    from edgeface.cli import train as train_command

    monkeypatch.setattr(train_command, "find_spec", lambda name: None)  # as on a runtime-only install
    assert main(command) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "needs the train extra" in err and "pip install 'edgeface[train]'" in err
    assert "Traceback" not in err


def test_help_lists_the_commands_by_audience(capsys):
    from edgeface.cli import MAINTAINER_COMMANDS, USER_COMMANDS

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    users, maintainers = out.index("for users:"), out.index("for maintainers")
    assert users < maintainers
    for name in USER_COMMANDS:
        assert users < out.index(f"  {name} ") < maintainers, name
    for name in MAINTAINER_COMMANDS:
        assert out.index(f"  {name} ") > maintainers, name


def test_each_evaluate_dataset_takes_only_its_own_flags(capsys):
    # --compare belongs to aflw2000, celeba and verification; --end-to-end to aflw2000 alone
    for argv in (
        ["evaluate", "utkface", "--compare", "x"],
        ["evaluate", "celeba", "--end-to-end"],
        ["evaluate", "detector", "--backend", "onnx"],
    ):
        with pytest.raises(SystemExit) as refused:
            main(argv)
        assert refused.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err, argv


def test_the_older_evaluate_form_still_reads():
    from edgeface.cli.evaluate import legacy

    assert legacy(["evaluate", "--dataset", "celeba", "--limit", "3"]) == ["evaluate", "celeba", "--limit", "3"]
    assert legacy(["evaluate", "--limit", "3", "--dataset=utkface"]) == ["evaluate", "utkface", "--limit", "3"]
    assert legacy(["evaluate", "--detector-only", "--root", "x"]) == ["evaluate", "detector", "--root", "x"]
    assert legacy(["evaluate", "--root", "x"]) == ["evaluate", "aflw2000", "--root", "x"]  # as before
    assert legacy(["evaluate", "eyes", "--root", "x"]) == ["evaluate", "eyes", "--root", "x"]
    assert legacy(["run", "--dataset", "x"]) == ["run", "--dataset", "x"]
    assert legacy(["evaluate", "celbea"]) == ["evaluate", "celbea"]  # a misspelt dataset is argparse's to name


def test_demo_measures_the_model_where_the_data_folder_is(dev_set, tmp_path, monkeypatch):
    """`edgeface demo` (README's first command) with a data folder: the photo, then AFLW2000-3D dev."""
    import shutil

    import numpy as np

    dev = tmp_path / "data" / "aflw2000_dev"
    (dev / "images").mkdir(parents=True)
    for i in range(4):
        shutil.copy(dev_set.image_path(i), dev / "images" / dev_set.names[i])
    labels = np.load(dev_set.root / "labels.npz")
    np.savez(dev / "labels.npz", **{k: labels[k][:4] for k in labels.files})
    monkeypatch.setenv("EDGEFACE_DATA", str(tmp_path / "data"))
    assert main(["demo", "--out", str(tmp_path / "out"), "--backend", "onnx"]) == EXIT_OK
    assert json.loads((tmp_path / "out" / "aflw2000_dev.json").read_text())["n_images"] == 4


def test_train_flags_of_the_other_mode_are_refused(capsys):
    assert main(["train", "--config", "x.json", "--from", "student"]) == EXIT_ERROR
    assert "--from does not apply with --config" in capsys.readouterr().err
    assert main(["train", "--recipe", "x.json", "--teacher", "t.pt", "--resume"]) == EXIT_ERROR
    assert "--teacher, --resume do not apply with --recipe" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "x.json", "--config", "y.json"])  # one mode at a time (argparse)
