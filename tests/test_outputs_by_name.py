"""A new output of the network touches three places: the network, the manifest's `outputs` list
and the code that reads it. The export, the pack's checks, every backend, the model and the
pipeline carry it by name without a change, and the app finds it in `Face.extra`."""

import numpy as np
import pytest

import edgeface
import edgeface.runtime.pack

pytestmark = pytest.mark.train


def test_a_new_output_needs_only_the_network_the_list_and_its_reader(tmp_path, face_image):
    torch = pytest.importorskip("torch")
    import fixture_model

    from edgeface.export.fp32 import write_pack

    # 1. the network: the fixture's six outputs and one more, a made-up "quality" in 0..1
    class WithQuality(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = fixture_model.network()

        def forward(self, x):
            return (*self.net(x), torch.sigmoid(4 * x.mean((1, 2, 3)))[:, None])

    # 2. the manifest's list: its name, shape and meaning
    fields = fixture_model.manifest()
    fields["outputs"].append({"name": "quality", "shape": [1], "meaning": "how bright the crop is, 0..1"})
    pack = write_pack(WithQuality(), tmp_path / "pack", fields, formats=("onnx", "openvino", "tflite"))

    # 3. the reader: the app
    answers = {}
    for backend in ("onnx", "openvino", "tflite"):
        reconstructor = edgeface.Reconstructor(backend, model=pack, refine=False)
        assert reconstructor.manifest.outputs["quality"].meaning == "how bright the crop is, 0..1"
        face = reconstructor(face_image)[0]
        dark = reconstructor(face_image // 4)[0]
        assert face.extra["quality"].shape == (1,) and 0 < dark.extra["quality"][0] < face.extra["quality"][0] < 1
        assert face.to_dict()["extra"] == {"quality": face.extra["quality"].tolist()}
        answers[backend] = face.extra["quality"][0]
    assert np.ptp(list(answers.values())) < 1e-4, answers


def test_a_schema_1_pack_and_a_schema_2_pack_of_one_network_give_the_same_faces(tmp_path, face_image):
    """Schema 1 carried age as a column after the attribute logits; schema 2 gives it its own output.
    The same network exported both ways answers the same, age included."""
    torch = pytest.importorskip("torch")
    import json

    import fixture_model

    from edgeface.export.fp32 import write_pack
    from edgeface.runtime.pack import MANIFEST_NAME

    class WithAge(torch.nn.Module):
        def __init__(self, as_column: bool):
            super().__init__()
            self.net, self.as_column = fixture_model.network(), as_column

        def forward(self, x):
            dense, pose, identity, expression, attributes, visibility = self.net(x)
            age = 20 + 40 * torch.sigmoid(4 * x.mean((1, 2, 3)))[:, None]
            if self.as_column:
                return dense, pose, identity, expression, torch.cat([attributes, age], 1), visibility
            return dense, pose, identity, expression, attributes, visibility, age

    fields = fixture_model.manifest()
    names = fixture_model.ATTRIBUTES
    m = fixture_model
    fields["outputs"] = edgeface.runtime.pack.standard_outputs(m.POINTS, m.IDENTITY, m.ARKIT, names, age=True)
    two = write_pack(WithAge(False), tmp_path / "two", fields, formats=("onnx",))
    # schema 1: the age column as a fifth attribute while exporting, then the manifest as 0.5.0 wrote it
    fields["attribute_names"] = names + ["age"]
    fields["outputs"] = edgeface.runtime.pack.standard_outputs(m.POINTS, m.IDENTITY, m.ARKIT, names + ["age"], False)
    one = write_pack(WithAge(True), tmp_path / "one", fields, formats=("onnx",))
    data = json.loads((one / MANIFEST_NAME).read_text())
    del data["outputs"]
    data.update(schema=1, attribute_names=names, age={"column": len(names), "unit": "years"})
    (one / MANIFEST_NAME).write_text(json.dumps(data))

    faces = [edgeface.Reconstructor("onnx", model=pack)(face_image)[0] for pack in (one, two)]
    assert 20 < faces[0].age < 60 and faces[0].age == pytest.approx(faces[1].age, abs=1e-5)
    assert list(faces[0].attributes) == list(faces[1].attributes) == names
    assert np.allclose(list(faces[0].attributes.values()), list(faces[1].attributes.values()), atol=1e-6)
    assert np.allclose(faces[0].dense, faces[1].dense, atol=1e-4)
    assert faces[0].extra == faces[1].extra == {}
