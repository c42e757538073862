package dev.edgeface.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Behaviour that needs no golden vectors: errors, parsing, geometry identities. */
class CoreTest {
    @Test
    fun jsonParsesNestedValues() {
        val v = Json.parse("""{"a": [1, -2.5e1, true, null], "b": {"c": "x\"y\u0041"}}""") as Map<*, *>
        assertEquals(listOf(1.0, -25.0, true, null), v["a"])
        assertEquals("x\"yA", (v["b"] as Map<*, *>)["c"])
    }

    @Test
    fun badJsonNamesThePlace() {
        val error = assertThrows(IllegalArgumentException::class.java) { Json.parse("""{"a": [1, 2}""") }
        assertTrue(error.message!!, "character" in error.message!!)
    }

    @Test
    fun manifestWithoutTheFileSaysWhatItHas() {
        val manifest = """{"schema": 1, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 68, "landmarks68": [${(0 until 68).joinToString()}], "triangles": []},
            "identity_size": 1, "expression_names": [], "attribute_names": [],
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "outputs": {}}]}"""
        val error = assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest, "tflite", "int8") }
        assertTrue(error.message!!, "onnx:fp32" in error.message!!)
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest.replace("\"schema\": 1", "\"schema\": 9"), "onnx", "fp32") }
    }

    @Test
    fun landmarkDefinitionIsCheckedAndApplied() {
        fun manifest(weights: String) = """{"schema": 1, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 70, "landmarks68": [${(0 until 68).joinToString()}], "triangles": [],
            "landmark_weights": {"points": [[68, 69], ${(1 until 68).joinToString { "[$it]" }}],
                                 "weights": [$weights, ${(1 until 68).joinToString { "[1.0]" }}]}},
            "identity_size": 1, "expression_names": [], "attribute_names": [],
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "outputs": {${ModelSpec.OUTPUT_NAMES.joinToString { "\"$it\": \"$it\"" }}}}]}"""
        // 67 rows where 68 are needed
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[0.25, 0.75]").replace("[2], ", ""), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[0.5, 0.6]"), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[1.5, -0.5]"), "onnx", "fp32") }
        val spec = ModelSpec.fromManifest(manifest("[0.25, 0.75]"), "onnx", "fp32")
        val dense = FloatArray(70 * 3) { it.toFloat() }
        val landmarks = spec.landmarks(dense)
        assertEquals(0.25f * dense[68 * 3] + 0.75f * dense[69 * 3], landmarks[0], 1e-4f)
        assertEquals(dense[5 * 3 + 2], landmarks[5 * 3 + 2], 0f)
        // tracking follows the ICT vertices' box, whatever the definition says
        assertArrayEquals(doubleArrayOf(0.0, 1.0, 201.0, 202.0), spec.faceBox(dense), 0.0)
    }

    @Test
    fun identityMetricIsCheckedAndMakesTheEmbedding() {
        fun manifest(metric: String) = """{"schema": 1, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 68, "landmarks68": [${(0 until 68).joinToString()}], "triangles": []},
            "identity_size": 2, "expression_names": [], "attribute_names": [], $metric
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "outputs": {${ModelSpec.OUTPUT_NAMES.joinToString { "\"$it\": \"$it\"" }}}}]}"""
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest(""""identity_metric": {"mean": [1], "whitening": [[1, 0], [0, 1]]},"""), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest(""""identity_metric": {"mean": [1, 2], "whitening": [[1, 0, 0], [0, 1]]},"""), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest(""""identity_metric": {"mean": [1, 2]},"""), "onnx", "fp32") }
        val plain = ModelSpec.fromManifest(manifest(""), "onnx", "fp32")
        assertArrayEquals(floatArrayOf(0.6f, 0.8f), plain.embedding(floatArrayOf(3f, 4f)), 1e-6f)
        // centred on (1, 2), then x doubled: (3, 4) -> (2, 2) -> (4, 2)
        val spec = ModelSpec.fromManifest(manifest(""""identity_metric": {"mean": [1, 2], "whitening": [[2, 0], [0, 1]]},"""), "onnx", "fp32")
        val e = spec.embedding(floatArrayOf(3f, 4f))
        assertArrayEquals(floatArrayOf(4f / Math.sqrt(20.0).toFloat(), 2f / Math.sqrt(20.0).toFloat()), e, 1e-6f)
        fun face(embedding: FloatArray?) = Face(Crop(0.0, 0.0, 1.0), FloatArray(0), FloatArray(0), Pose(0.0, 0.0, 0.0, DoubleArray(9), FloatArray(2), 1.0),
            FloatArray(2), emptyMap(), emptyMap(), FloatArray(0), embedding = embedding)
        assertEquals(1f, face(e).similarity(face(e)), 1e-6f)
        assertEquals(0.6f, face(floatArrayOf(1f, 0f)).similarity(face(floatArrayOf(0.6f, 0.8f))), 1e-6f)
        assertThrows(IllegalArgumentException::class.java) { face(e).similarity(face(null)) }
        assertThrows(IllegalArgumentException::class.java) { face(e).similarity(face(floatArrayOf(1f))) }
    }

    @Test
    fun perYawLandmarkDefinitionIsInterpolatedByTheHeadsYaw() {
        val rest = (1 until 68).joinToString { "[1.0]" }
        fun manifest(anchors: String, first: String) = """{"schema": 1, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 70, "landmarks68": [${(0 until 68).joinToString()}], "triangles": [],
            "landmark_weights": {"points": [[68, 69], ${(1 until 68).joinToString { "[$it]" }}],
                                 "weights": [[0.5, 0.5], $rest],
                                 "by_yaw": {"yaw_degrees": $anchors, "weights": [[[1.0, 0.0], $rest], [$first, $rest]]}}},
            "identity_size": 1, "expression_names": [], "attribute_names": [],
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "outputs": {${ModelSpec.OUTPUT_NAMES.joinToString { "\"$it\": \"$it\"" }}}}]}"""
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[30, -30]", "[0.0, 1.0]"), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[-30, 30]", "[0.7, 0.7]"), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest("[-30, 30]", "[1.0]"), "onnx", "fp32") }
        val spec = ModelSpec.fromManifest(manifest("[-30, 30]", "[0.0, 1.0]"), "onnx", "fp32")
        val dense = FloatArray(70 * 3) { it.toFloat() }
        // (yaw, share of point 69) as edgeface/runtime/pipeline.py landmark_weights_at: held beyond the anchors
        for ((yaw, share) in listOf(-45.0 to 0f, 0.0 to 0.5f, 15.0 to 0.75f, 80.0 to 1f)) {
            assertEquals((1 - share) * dense[68 * 3] + share * dense[69 * 3], spec.landmarks(dense, yaw)[0], 1e-4f)
        }
        assertEquals(dense[5 * 3 + 2], spec.landmarks(dense, 15.0)[5 * 3 + 2], 0f)
    }

    @Test
    fun cropMapsItsCornersToTheUnitSquare() {
        val crop = Geometry.squareCrop(doubleArrayOf(10.0, 20.0, 110.0, 140.0), 1.0)
        val corners = crop.toImage(floatArrayOf(0f, 0f, 1f, 1f), 2)
        assertEquals(crop.x0.toFloat(), corners[0])
        assertEquals((crop.x0 + crop.size).toFloat(), corners[2], 1e-4f)
        assertEquals(110.0, crop.size, 1e-9)
        assertThrows(IllegalArgumentException::class.java) { Geometry.squareCrop(doubleArrayOf(5.0, 5.0, 5.0, 9.0), 1.4) }
    }

    @Test
    fun rotationIsOrthonormal() {
        val r = Geometry.eulerToMatrix(0.3, -0.7, 0.2)
        for (i in 0 until 3) for (j in 0 until 3) {
            val dot = (0 until 3).sumOf { r[i * 3 + it] * r[j * 3 + it] }
            assertEquals(if (i == j) 1.0 else 0.0, dot, 1e-12)
        }
    }

    @Test
    fun warpByTheIdentityCopiesAndACropShiftsHalfAPixel() {
        val image = RgbImage(8, 8, ByteArray(8 * 8 * 3) { (it * 7).toByte() })
        val same = CropCutter.warpAffine(image, doubleArrayOf(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), 8, 8)
        assertTrue(image.pixels.contentEquals(same.pixels))
        // a crop's edges, not its first pixel centre, sit at (x0, y0): crop pixel (0, 0) samples image (0.5, 0.5)
        val shifted = CropCutter.warp(image, Crop(0.0, 0.0, 8.0), 8)
        val mean = (image[0, 0, 0] + image[1, 0, 0] + image[0, 1, 0] + image[1, 1, 0]) / 4.0
        assertEquals(mean, shifted[0, 0, 0].toDouble(), 0.5)
    }

    @Test
    fun halvingRoundsBlocksAndALargeCropOfAFlatImageStaysFlat() {
        val image = RgbImage(2, 2, byteArrayOf(0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0))
        assertEquals(1, CropCutter.halve(image)[0, 0, 0])  // (0 + 1 + 1 + 0 + 2) shr 2
        val flat = RgbImage(400, 300, ByteArray(400 * 300 * 3) { 77 })
        // 280 px into 28: halved three times; inside the image every crop pixel is the flat value
        val cut = CropCutter.cut(flat, Crop(50.3, 10.6, 280.0), 28)
        assertTrue((0 until 28 * 28 * 3).all { cut.pixels[it] == 77.toByte() })
        // a crop running off the image is black there
        val edge = CropCutter.cut(flat, Crop(-140.0, 10.0, 280.0), 28)
        assertEquals(0, edge[2, 14, 0]); assertEquals(77, edge[25, 14, 0])
    }

    @Test
    fun oneEuroHoldsAConstantAndRestartsWhenTimeGoesBack() {
        val f = OneEuroFilter()
        repeat(10) { assertEquals(5f, f.filter(floatArrayOf(5f), it * 0.1)[0], 1e-6f) }
        assertEquals(9f, f.filter(floatArrayOf(9f), 0.0)[0])
    }

    @Test
    fun trackerDropsAFaceThatLeavesOrJumps() {
        val tracker = FaceTracker(minSize = 16.0)
        val square = { x: Double, side: Double -> doubleArrayOf(x, 100.0, x + side, 100.0 + side) }
        assertTrue(tracker.accept(square(100.0, 80.0), 640, 480))
        assertTrue(tracker.accept(square(110.0, 90.0), 640, 480))
        assertTrue(!tracker.accept(square(110.0, 300.0), 640, 480))  // more than 2x the size
        tracker.reset()
        assertTrue(!tracker.accept(square(700.0, 80.0), 640, 480))  // centre outside the frame
        assertTrue(tracker.cropBox() == null)
    }

    @Test
    fun cameraFramesAreTurnedUprightAndMirrored() {
        // a 3x2 RGBA frame whose red channel numbers the pixels 0..5 row by row
        val rgba = ByteArray(3 * 2 * 4) { if (it % 4 == 0) (it / 4).toByte() else 0 }
        fun red(image: RgbImage) = (0 until image.height).map { y -> (0 until image.width).map { x -> image[x, y, 0] } }
        assertEquals(listOf(listOf(0, 1, 2), listOf(3, 4, 5)), red(RgbImage.fromRgba(3, 2, 12, rgba, 0, false)))
        // turned a quarter clockwise, the bottom-left pixel comes to the top-left
        assertEquals(listOf(listOf(3, 0), listOf(4, 1), listOf(5, 2)), red(RgbImage.fromRgba(3, 2, 12, rgba, 90, false)))
        assertEquals(listOf(listOf(5, 4, 3), listOf(2, 1, 0)), red(RgbImage.fromRgba(3, 2, 12, rgba, 180, false)))
        assertEquals(listOf(listOf(2, 5), listOf(1, 4), listOf(0, 3)), red(RgbImage.fromRgba(3, 2, 12, rgba, 270, false)))
        assertEquals(listOf(listOf(2, 1, 0), listOf(5, 4, 3)), red(RgbImage.fromRgba(3, 2, 12, rgba, 0, true)))
        assertThrows(IllegalArgumentException::class.java) { RgbImage.fromRgba(3, 2, 12, rgba, 45, false) }
    }

    @Test
    fun ageAndGenderComeFromTheDeclaredColumns() {
        fun manifest(extra: String) = """{"schema": 1, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 68, "landmarks68": [${(0 until 68).joinToString()}], "triangles": []},
            "identity_size": 1, "expression_names": [], "attribute_names": ["Smiling", "Male"] $extra,
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "outputs": {${ModelSpec.OUTPUT_NAMES.joinToString { "\"$it\": \"$it\"" }}}}]}"""
        val spec = ModelSpec.fromManifest(manifest(""", "age": {"column": 2}, "gender": {"attribute": "Male"}"""), "onnx", "fp32")
        assertEquals(3, spec.outputSize("attributes"))
        val outputs = mapOf("dense" to FloatArray(68 * 3) { 0.5f }, "pose" to floatArrayOf(0f, 0f, 0f, 0.5f, 0.5f, 0.01f),
            "identity" to FloatArray(1), "expression" to FloatArray(0), "attributes" to floatArrayOf(2f, -3f, 41.5f),
            "visibility" to FloatArray(68))
        val face = FaceDecoder.decode(outputs, Crop(0.0, 0.0, 100.0), spec)
        assertEquals(41.5f, face.age!!, 0f)
        assertEquals("female", face.gender)
        assertEquals(setOf("Smiling", "Male"), face.attributes.keys)
        // without the fields: no age, no gender, and the attributes output has one column per name
        val plain = ModelSpec.fromManifest(manifest(""), "onnx", "fp32")
        assertEquals(2, plain.outputSize("attributes"))
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest(""", "age": {"column": 1}"""), "onnx", "fp32") }
        assertThrows(ModelSpecError::class.java) { ModelSpec.fromManifest(manifest(""", "gender": {"attribute": "Young"}"""), "onnx", "fp32") }
    }

    @Test
    fun schemaTwoNamesEveryOutputAndHandsOnTheOnesItDoesNotDecode() {
        fun manifest(outputs: String, tensors: String) = """{"schema": 2, "name": "m", "input": {"size": 4, "mean": [0,0,0], "std": [1,1,1]},
            "crop": {"scale": 1.4}, "topology": {"name": "t", "version": 1, "num_points": 68, "landmarks68": [${(0 until 68).joinToString()}], "triangles": []},
            "identity_size": 1, "expression_names": [], "attribute_names": ["Smiling", "Male"], "gender": {"attribute": "Male"},
            "outputs": [$outputs],
            "files": [{"path": "m.onnx", "format": "onnx", "precision": "fp32", "sha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                       "outputs": {$tensors}}]}"""
        val shapes = mapOf("dense" to "[68, 3]", "pose" to "[6]", "identity" to "[1]", "expression" to "[0]", "attributes" to "[2]",
            "visibility" to "[68]", "age" to "[1]", "quality" to "[2]", "huge" to "[100000, 100000]")
        fun listed(names: List<String>) = names.joinToString { """{"name": "$it", "shape": ${shapes.getValue(it)}, "meaning": "m"}""" }
        fun tensors(names: List<String>) = names.joinToString { "\"$it\": \"t_$it\"" }
        val names = ModelSpec.OUTPUT_NAMES + listOf("age", "quality")
        val spec = ModelSpec.fromManifest(manifest(listed(names), tensors(names)), "onnx", "fp32")
        assertEquals(names, spec.tensorSizes.keys.toList())
        assertEquals(2, spec.outputSize("attributes"))
        assertEquals("t_quality", spec.outputs["quality"])
        val outputs = mapOf("dense" to FloatArray(68 * 3) { 0.5f }, "pose" to floatArrayOf(0f, 0f, 0f, 0.5f, 0.5f, 0.01f),
            "identity" to FloatArray(1), "expression" to FloatArray(0), "attributes" to floatArrayOf(2f, 3f),
            "visibility" to FloatArray(68), "age" to floatArrayOf(27.5f), "quality" to floatArrayOf(0.25f, 0.75f))
        val face = FaceDecoder.decode(outputs, Crop(0.0, 0.0, 100.0), spec)
        assertEquals(27.5f, face.age!!, 0f)
        assertEquals("male", face.gender)
        assertEquals(setOf("quality"), face.extra.keys)
        assertArrayEquals(floatArrayOf(0.25f, 0.75f), face.extra.getValue("quality"), 0f)
        val six = ModelSpec.OUTPUT_NAMES
        // without age: no age; a wrong shape, a missing required output, a tensor map that does not match, age.column: refused
        assertNull(FaceDecoder.decode(outputs - "age" - "quality", Crop(0.0, 0.0, 100.0),
            ModelSpec.fromManifest(manifest(listed(six), tensors(six)), "onnx", "fp32")).age)
        for (broken in listOf(manifest(listed(six).replace("[68, 3]", "[68, 2]"), tensors(six)),
                              manifest(listed(six - "pose"), tensors(six - "pose")),
                              manifest(listed(six), tensors(six - "visibility")),
                              manifest(listed(six), tensors(six + "age")),
                              manifest(listed(six + "pose"), tensors(six)),
                              manifest(listed(six + "huge"), tensors(six + "huge")),
                              manifest(listed(six), tensors(six)).replace("\"gender\"", "\"age\": {\"column\": 2}, \"gender\""))) {
            assertThrows(broken, ModelSpecError::class.java) { ModelSpec.fromManifest(broken, "onnx", "fp32") }
        }
    }
}
