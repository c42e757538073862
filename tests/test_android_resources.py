"""The Android app's manifest and resources link (aapt2, against Debian's android-framework-res, the
Android 10 framework resources), and its models go into the package stored, so LiteRT can map them.

Google's Maven repository is out of reach here, so this is as far as the app is checked: its
Kotlin is compiled with Gradle where that repository is reachable (android_demo/README.md).
"""

import re
import shutil
import subprocess
import zipfile

import pytest
from platform_tools import REPO, require

pytestmark = pytest.mark.platform

APP = REPO / "android_demo" / "app"
FRAMEWORK = "/usr/share/android-framework-res/framework-res.apk"
PACKAGE = "dev.edgeface.demo"


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    aapt2 = shutil.which("aapt2")
    require("aapt2 (Debian aapt)", aapt2)
    require("the Android framework resources (Debian android-framework-res)", shutil.os.path.exists(FRAMEWORK))
    work = tmp_path_factory.mktemp("aapt2")
    compiled = work / "res.zip"
    done = subprocess.run(
        [aapt2, "compile", "--dir", str(APP / "src" / "main" / "res"), "-o", str(compiled)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    # The Gradle plugin writes the namespace into the merged manifest as its package; do the same.
    manifest = (APP / "src" / "main" / "AndroidManifest.xml").read_text()
    merged = work / "AndroidManifest.xml"
    merged.write_text(manifest.replace("<manifest ", f'<manifest package="{PACKAGE}" ', 1))
    # the assets the build copies in (app/build.gradle.kts, copyEdgefaceAssets)
    assets = work / "assets"
    assets.mkdir()
    for source in (
        REPO / "edgeface" / "models" / "default" / "model_int8.tflite",
        REPO / "edgeface" / "models" / "default" / "edgeface.json",
        REPO / "edgeface" / "runtime" / "detectors" / "assets" / "face_detection_short_range.tflite",
        REPO / "edgeface" / "runtime" / "detectors" / "assets" / "NOTICE",
    ):
        shutil.copy(source, assets / source.name)
    apk = work / "app.apk"
    done = subprocess.run(
        [
            aapt2,
            "link",
            "-I",
            FRAMEWORK,
            "--manifest",
            str(merged),
            "--min-sdk-version",
            "24",
            "--target-sdk-version",
            "29",
            "-A",
            str(assets),
            "-0",
            ".tflite",
            "-o",
            str(apk),
            str(compiled),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return aapt2, apk


def test_manifest_and_resources_link(linked):
    aapt2, apk = linked
    dump = subprocess.run([aapt2, "dump", "badging", str(apk)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert f"package: name='{PACKAGE}'" in dump.stdout
    assert "uses-permission: name='android.permission.CAMERA'" in dump.stdout
    assert re.search(r"launchable-activity: name='dev\.edgeface\.demo\.MainActivity'", dump.stdout)


def test_models_are_stored_uncompressed(linked):
    _, apk = linked
    with zipfile.ZipFile(apk) as z:
        entries = {i.filename: i for i in z.infolist()}
        for name in ("assets/model_int8.tflite", "assets/face_detection_short_range.tflite"):
            assert entries[name].compress_type == zipfile.ZIP_STORED, name
        assert (REPO / "edgeface" / "models" / "default" / "model_int8.tflite").read_bytes() == z.read(
            "assets/model_int8.tflite"
        )


def test_gradle_build_packs_what_was_checked():
    """The Gradle build stores .tflite uncompressed too, and copies assets that exist in this checkout."""
    build = (APP / "build.gradle.kts").read_text()
    assert re.search(r'noCompress \+= "tflite"', build)
    copied = re.findall(r'from\(pkg\.resolve\("([^"]+)"\)\) \{ include\(([^)]*)\) \}', build)
    assert len(copied) == 2
    for folder, names in copied:
        for name in re.findall(r'"([^"]+)"', names):
            assert (REPO / "edgeface" / folder / name).is_file(), (
                f"{folder}/{name} named in app/build.gradle.kts is missing"
            )


def test_a_broken_reference_fails_to_link(tmp_path):
    """The check can fail: a manifest naming a missing string does not link."""
    aapt2 = shutil.which("aapt2")
    require("aapt2 (Debian aapt)", aapt2)
    compiled = tmp_path / "res.zip"
    subprocess.run([aapt2, "compile", "--dir", str(APP / "src" / "main" / "res"), "-o", str(compiled)], check=True)
    manifest = (
        (APP / "src" / "main" / "AndroidManifest.xml").read_text().replace("@string/app_name", "@string/not_there")
    )
    broken = tmp_path / "AndroidManifest.xml"
    broken.write_text(manifest.replace("<manifest ", f'<manifest package="{PACKAGE}" ', 1))
    done = subprocess.run(
        [aapt2, "link", "-I", FRAMEWORK, "--manifest", str(broken), "-o", str(tmp_path / "x.apk"), str(compiled)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "not_there" in done.stderr
