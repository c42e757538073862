"""The pack schema: one definition of edgeface.json, its reader and its only writer (edgeface.runtime.pack)."""

import ast
import copy
import json
from pathlib import Path

import pytest

import edgeface
from edgeface.runtime.pack import (
    DEFAULT_PACK,
    MANIFEST_NAME,
    OUTPUTS,
    SCHEMA1_OUTPUTS,
    SCHEMA_FILE,
    Manifest,
    PackManifest,
    file_digest,
    read_manifest,
    schema,
    schema_problem,
    standard_outputs,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_PACK = Path(__file__).parent / "fixture_pack"  # committed, schema 1: schema-1 packs still load


def _data(pack) -> dict:
    return json.loads((Path(pack) / MANIFEST_NAME).read_text())


@pytest.mark.parametrize("pack", [DEFAULT_PACK, Path(__file__).parent / "fixture_pack"])
def test_the_shipped_and_fixture_manifests_follow_the_schema(pack):
    assert schema_problem(_data(pack)) is None
    assert json.loads(SCHEMA_FILE.read_text()) == schema()


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda d: d["files"][0].update(precision="int4"), "files[0].precision must be one of"),
        (lambda d: d.update(schema=2), "outputs is missing"),
        (lambda d: d["files"][0].update(layout=True), "files[0].layout must be one of"),
        (lambda d: d.update(outputs=[]), "outputs is not a field of this manifest's schema version"),
        (lambda d: d["topology"].pop("version"), "topology.version is missing"),
        (lambda d: d["topology"]["triangles"].__setitem__(0, [1, 2]), "topology.triangles[0] has 2 items"),
        (lambda d: d["files"][0].update(companions=[""]), "files[0].companions[0] must not be empty"),
        (lambda d: d.update(age={"unit": "years"}), "age.column is missing"),
    ],
)
def test_the_schema_names_what_is_wrong(edit, problem):
    data = _data(Path(__file__).parent / "fixture_pack")  # schema 1
    edit(data)
    assert problem in schema_problem(data)


def test_a_manifest_breaking_only_the_schema_is_refused_on_load(pack_copy):
    data = _data(pack_copy)
    data["files"][-1]["precision"] = "int4"  # a name the field checks take, the schema does not
    (pack_copy / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(
        edgeface.ModelError, match=r"does not follow pack.schema.json: files\[\d+\].precision must be one of"
    ):
        read_manifest(pack_copy)


def test_pack_manifest_adds_replaces_and_removes_files(pack_copy):
    manifest = PackManifest.open(pack_copy)
    onnx = next(f for f in manifest.data["files"] if f["format"] == "onnx")
    copy_path = pack_copy / "model_copy.onnx"
    copy_path.write_bytes((pack_copy / onnx["path"]).read_bytes())
    manifest.add_file(copy_path, "onnx", "fp16", onnx["outputs"], layout="NCHW")
    saved = manifest.save()
    entry = saved.find_file("onnx", "fp16")
    assert entry.path == copy_path and entry.sha256 == file_digest(copy_path)
    # the same format and precision again replaces the entry rather than listing two
    manifest.add_file(copy_path, "onnx", "fp16", onnx["outputs"], layout="NCHW")
    assert [f["precision"] for f in manifest.save().data["files"] if f["format"] == "onnx"] == ["fp32", "fp16"]
    assert manifest.remove_file("onnx", "fp16") == ["model_copy.onnx"]
    assert not copy_path.exists() and manifest.save().find_file("onnx", "fp16") is None
    assert edgeface.Reconstructor("onnx", model=pack_copy).backend == "onnx"


def test_pack_manifest_never_writes_what_the_reader_refuses(pack_copy):
    before = (pack_copy / MANIFEST_NAME).read_text()
    manifest = PackManifest.open(pack_copy)
    manifest.set_landmark_definition({"points": [[0]] * 67, "weights": [[1.0]] * 67})
    with pytest.raises(edgeface.ModelError, match="landmark_weights"):
        manifest.save()
    assert (pack_copy / MANIFEST_NAME).read_text() == before


def test_a_new_manifest_takes_the_fields_and_its_files(pack_copy, tmp_path):
    fields = {k: v for k, v in _data(pack_copy).items() if k not in ("schema", "files")}
    m = read_manifest(pack_copy)
    fields["outputs"] = standard_outputs(
        m.num_points, m.identity_size, m.expression_names, m.attribute_names, age=False
    )
    out = tmp_path / "new"
    out.mkdir()
    onnx = (pack_copy / "model_fp32.onnx").read_bytes()
    (out / "model_fp32.onnx").write_bytes(onnx)
    manifest = PackManifest.new(out, copy.deepcopy(fields))
    manifest.add_file(
        out / "model_fp32.onnx", "onnx", "fp32", {o["name"]: o["name"] for o in fields["outputs"]}, layout="NCHW"
    )
    assert manifest.save().name == fields["name"]
    assert list(_data(out))[0] == "schema" and _data(out)["schema"] == 2


def test_no_module_but_the_pack_schema_writes_a_manifest():
    """Writers go through PackManifest: no other module of the package writes to a path it names
    edgeface.json (a `write_text`, `open(..., "w")` or `json.dump` on it)."""
    offenders = []
    for path in list((REPO / "edgeface").rglob("*.py")) + list((REPO / "export").glob("*.py")):
        if path.name == "pack.py" and path.parent.name == "runtime":
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            target = (
                func.value
                if isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes")
                else node.args[0]
                if isinstance(func, ast.Name)
                and func.id == "open"
                and len(node.args) > 1
                and "w" in str(getattr(node.args[1], "value", ""))
                else None
            )
            segment = ast.get_source_segment(text, target) if target is not None else ""
            if "MANIFEST_NAME" in segment or "edgeface.json" in segment:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


class _Recorder(dict):
    """A manifest's JSON that notes the dotted path of every field the reader looks up."""

    def __init__(self, data: dict, path: str, seen: set):
        super().__init__({k: _recorded(v, f"{path}{k}", seen) for k, v in data.items()})
        self.path, self.seen = path, seen

    def __getitem__(self, key):
        self.seen.add(f"{self.path}{key}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.seen.add(f"{self.path}{key}")
        return super().get(key, default)


def _recorded(value, path: str, seen: set):
    if isinstance(value, dict):
        return _Recorder(value, path + "." if path else "", seen)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [_recorded(v, path + ".[]", seen) for v in value]
    return value


def _schema_paths() -> set:
    root = json.loads((REPO / "edgeface" / "runtime" / "pack.schema.json").read_text())
    out: set = set()

    def walk(node, path):
        if "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        for key, sub in node.get("properties", {}).items():
            out.add(path + key)
            walk(sub, path + key + ".")
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + "[].")

    walk(root, "")
    return out


def _fixture_with_age() -> dict:
    data = _data(FIXTURE_PACK)
    data["age"] = {"column": len(data["attribute_names"]), "unit": "years"}
    return data


@pytest.mark.parametrize(
    "data, read",
    [
        # the shipped pack (schema 2) has every optional part: age, gender, identity metric, landmark
        # weights by yaw, mirror map; the fixture is schema 1, here with schema 1's age column
        (lambda: _data(DEFAULT_PACK), {"outputs.[].shape", "topology.landmark_weights", "identity_metric.whitening"}),
        (_fixture_with_age, {"age.column", "topology.triangles"}),
    ],
)
def test_every_field_the_reader_reads_is_in_the_schema(data, read):
    """One contract: whatever `Manifest` reads from a pack is described by pack.schema.json, the file
    the Kotlin core checks against too."""
    from edgeface.runtime.pack import Manifest

    seen: set = set()
    Manifest(_recorded(data(), "", seen), DEFAULT_PACK)
    assert len(seen) > 25  # the recorder sees the reader's lookups
    assert read | {"files.[].outputs"} <= seen
    assert seen - _schema_paths() == set()


def test_the_committed_schema_1_fixture_loads_with_its_outputs_by_name():
    m = read_manifest(FIXTURE_PACK)
    assert m.version == 1 and list(m.outputs) == list(SCHEMA1_OUTPUTS) and m.age_in_attributes is None
    assert m.outputs["dense"].shape == (m.num_points, 3) and m.outputs["dense"].meaning == OUTPUTS["dense"]
    aged = Manifest(_fixture_with_age(), FIXTURE_PACK)
    assert list(aged.outputs) == [*SCHEMA1_OUTPUTS, "age"] and aged.outputs["age"].unit == "years"
    # the file's attributes tensor carries the age column; the model splits it off (tests/test_outputs_by_name.py)
    assert aged.age_in_attributes == 4 and aged.tensor_shapes["attributes"] == (5,) and "age" not in aged.tensor_shapes


def test_a_schema_version_of_true_is_not_schema_1():
    data = _data(FIXTURE_PACK)
    data["schema"] = True
    with pytest.raises(edgeface.ModelError, match="manifest schema True is not supported"):
        Manifest(data, FIXTURE_PACK)


def test_a_schema_1_age_column_must_follow_the_attribute_logits():
    data = _fixture_with_age()
    data["age"]["column"] = 3
    with pytest.raises(edgeface.ModelError, match="age.column must be 4"):
        Manifest(data, FIXTURE_PACK)


def test_the_shipped_pack_is_schema_2_with_age_its_own_output():
    m = read_manifest(DEFAULT_PACK)
    assert m.version == 2 and m.age_in_attributes is None
    assert list(m.outputs) == list(OUTPUTS) and m.tensor_shapes == m.output_shapes
    assert m.outputs["age"].shape == (1,) and m.outputs["age"].unit == "years"
    assert m.outputs["attributes"].shape == (len(m.attribute_names),)
    assert all(set(f.outputs) == set(OUTPUTS) for f in m.files)


def _output(data, name) -> dict:
    return next(o for o in data["outputs"] if o["name"] == name)


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda d: _output(d, "dense").update(shape=[520, 2]), r"outputs\[0\].shape of 'dense' must be \[520, 3\]"),
        (lambda d: _output(d, "age").update(shape=[2]), "of 'age' must be \\[1\\]"),
        (lambda d: d["outputs"].append(dict(_output(d, "pose"))), "'pose' is listed twice"),
        (lambda d: d["outputs"].remove(_output(d, "pose")), "outputs lacks 'pose'"),
        (lambda d: d["outputs"].append({"name": "Quality", "shape": [1], "meaning": "m"}), "must match"),
        (lambda d: d["outputs"].append({"name": "quality", "shape": [1]}), r"outputs\[7\].meaning is missing"),
        (
            lambda d: d["outputs"].append({"name": "q", "shape": [10**7], "meaning": "m"}),
            "outside the schema's maximum",
        ),
        (lambda d: d.update(age={"column": 40}), "age is not a field of this manifest's schema version"),
        (lambda d: d.pop("outputs"), "outputs is missing"),
        (lambda d: d["files"][0]["outputs"].pop("age"), r"files\[0\].outputs must name a tensor .*none for 'age'"),
        (lambda d: d["files"][0]["outputs"].update(quality="q"), r"'quality' not among them"),
    ],
)
def test_a_schema_2_manifest_is_checked_output_by_output(pack_copy, edit, problem):
    data = _data(DEFAULT_PACK)
    edit(data)
    with pytest.raises(edgeface.ModelError, match=problem):
        Manifest(data, DEFAULT_PACK)


def test_flip_averaging_mirrors_what_it_knows_and_keeps_the_rest_as_the_plain_crop_gave_it():
    import numpy as np

    from edgeface.runtime.pipeline import FlipAverage

    m = read_manifest(DEFAULT_PACK)
    rng = np.random.default_rng(0)
    plain, flipped = (
        {
            n: rng.normal(size=(2, *shape)).astype(np.float32)
            for n, shape in {**m.output_shapes, "quality": (3,)}.items()
        }
        for _ in range(2)
    )
    out = FlipAverage(m).average(plain, flipped)
    assert set(out) == set(plain)
    assert np.array_equal(out["quality"], plain["quality"]) and np.array_equal(out["identity"], plain["identity"])
    assert np.allclose(out["age"], (plain["age"] + flipped["age"]) / 2)  # age is its own mirror twin
