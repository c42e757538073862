"""The Android app's Kotlin core (android_demo/core) on the JVM, against golden vectors that the
Python runtime writes now (edgeface.tools.goldens): the same crop bytes, input tensors and dequantized
values to the bit, the same decoded faces, detections and filtered tracks within float tolerance."""

import re
import shutil
import subprocess

import pytest
from platform_tools import REPO, jar, kotlinc, require

from edgeface.runtime.pack import SCHEMA_FILE

pytestmark = pytest.mark.platform

CORE = REPO / "android_demo" / "core"


@pytest.fixture(scope="module")
def core_jar(tmp_path_factory):
    compiler = kotlinc()
    require("the Kotlin compiler (npm kotlin-compiler)", compiler)
    require("java", shutil.which("java"))
    junit = jar("junit4.jar")
    require("JUnit 4 (Debian junit4)", junit)
    out = tmp_path_factory.mktemp("kotlin") / "core.jar"
    done = subprocess.run(
        [
            str(compiler),
            str(CORE / "src" / "main" / "kotlin"),
            str(CORE / "src" / "test" / "kotlin"),
            "-cp",
            str(junit),
            "-jvm-target",
            "17",
            "-d",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"kotlinc failed:\n{done.stdout}\n{done.stderr}"
    return out, compiler


def _no_android_imports():
    return [p for p in (CORE / "src").rglob("*.kt") if re.search(r"^import android\.", p.read_text(), re.M)]


def test_core_has_no_android_imports():
    assert _no_android_imports() == []


def test_kotlin_core_agrees_with_python(core_jar, dev_set, tmp_path, installed_backends):
    if "tflite" not in installed_backends:
        pytest.skip("golden vectors come from the TFLite INT8 file: pip install 'edgeface[tflite]'")
    from edgeface.tools import goldens

    goldens.write(tmp_path / "goldens", [dev_set.image_path(i) for i in range(3)])
    jar_path, compiler = core_jar
    stdlib = compiler.parent.parent / "lib" / "kotlin-stdlib.jar"
    classpath = ":".join(
        str(p) for p in (jar_path, jar("junit4.jar"), jar("hamcrest-core.jar", "hamcrest.jar"), stdlib)
    )
    run = subprocess.run(
        [
            "java",
            "-Dedgeface.goldens.required=true",
            "-cp",
            classpath,
            "org.junit.runner.JUnitCore",
            "dev.edgeface.core.GoldenTest",
            "dev.edgeface.core.CoreTest",
            "dev.edgeface.core.SchemaTest",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "EDGEFACE_GOLDENS": str(tmp_path / "goldens"),
            "EDGEFACE_PACK_SCHEMA": str(SCHEMA_FILE),
            "PATH": "/usr/bin:/bin",
        },
    )
    ok = re.search(r"^OK \((\d+) tests?\)", run.stdout, re.M)
    failed = re.search(r"^Tests run: (\d+),\s+Failures: (\d+)", run.stdout, re.M)
    total, failures = (
        (int(ok.group(1)), 0) if ok else (int(failed.group(1)), int(failed.group(2))) if failed else (0, 0)
    )
    print(f"\nKotlin core on the JVM: {total - failures} passed, {failures} failed")
    assert run.returncode == 0 and failures == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert total >= 20, f"JUnit ran {total} tests; the suite has at least 20\n{run.stdout}"
