package dev.edgeface.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File
import kotlin.math.abs

/**
 * The Kotlin core against the golden vectors the Python SDK writes (`edgeface goldens --out DIR`,
 * found through the EDGEFACE_GOLDENS environment variable or the edgeface.tools.goldens property).
 * Quantization must agree to the bit, crop pixels within one grey level; decoding within float tolerance.
 */
class GoldenTest {
    private val root: File? = (System.getProperty("edgeface.tools.goldens") ?: System.getenv("EDGEFACE_GOLDENS"))?.let(::File)

    private fun dir(path: String): File {
        // Skipped without golden vectors, unless the run says they must be there (the pytest driver does).
        if (System.getProperty("edgeface.tools.goldens.required") == "true") assertTrue("EDGEFACE_GOLDENS is not set", root != null)
        assumeTrue("golden vectors not given: set EDGEFACE_GOLDENS (edgeface goldens --out DIR)", root != null)
        return File(root, path).also { assertTrue("missing $it", it.isDirectory) }
    }

    private fun npy(folder: File, name: String) = Npy.read(File(folder, "$name.npy"))

    private val spec by lazy { ModelSpec.fromManifest(File(dir("."), "edgeface.json").readText(), "tflite", "int8") }

    private fun cases() = dir("cases").listFiles()!!.filter { it.isDirectory }.sortedBy { it.name }
        .also { assertTrue("no golden cases", it.isNotEmpty()) }

    private fun image(folder: File, name: String): RgbImage {
        val a = npy(folder, name)
        return RgbImage(a.shape[1], a.shape[0], a.bytes())
    }

    private fun assertClose(what: String, expected: FloatArray, actual: FloatArray, tolerance: Double) {
        assertEquals("$what: length", expected.size, actual.size)
        val worst = expected.indices.maxOfOrNull { // NaN: no such value (a pack without age), on both sides
            if (expected[it].isNaN() && actual[it].isNaN()) 0.0 else abs(expected[it] - actual[it]).toDouble()
        } ?: 0.0
        assertTrue("$what: worst difference $worst exceeds $tolerance", worst <= tolerance)
    }

    @Test
    fun manifestReadsAsPythonReadsIt() {
        val m = dir("manifest")
        val scalars = npy(m, "scalars").doubles()
        assertEquals(scalars[0].toInt(), spec.inputSize)
        assertEquals(scalars[1].toInt(), spec.numPoints)
        assertEquals(scalars[2].toInt(), spec.identitySize)
        assertEquals(scalars[3], spec.cropScale, 0.0)
        assertEquals(scalars[4], spec.cropShiftY, 0.0)
        assertArrayEquals(npy(m, "landmarks68").ints(), spec.landmarks68)
        // Python pads each landmark's row with weight-0 points; the Kotlin rows are unpadded
        val points = npy(m, "landmark_points").ints()
        val weights = npy(m, "landmark_weights").floats()
        val width = points.size / 68
        for (i in 0 until 68) {
            val row = spec.landmarkPoints[i]
            assertArrayEquals(points.sliceArray(i * width until i * width + row.size), row)
            assertArrayEquals(weights.sliceArray(i * width until i * width + row.size), spec.landmarkWeights[i], 0f)
            assertTrue((i * width + row.size until (i + 1) * width).all { weights[it] == 0f })
        }
        if (File(m, "landmark_yaw.npy").exists()) {
            assertArrayEquals(npy(m, "landmark_yaw").doubles(), spec.landmarkYaw, 0.0)
            val byYaw = npy(m, "landmark_weights_by_yaw").floats()
            for (a in spec.landmarkYaw.indices) for (i in 0 until 68) {
                val start = (a * 68 + i) * width
                assertArrayEquals(byYaw.sliceArray(start until start + spec.landmarkPoints[i].size), spec.landmarkWeightsByYaw[a][i], 0f)
            }
        } else {
            assertEquals(0, spec.landmarkYaw.size)
        }
        assertArrayEquals(npy(m, "triangles").ints(), spec.triangles)
        assertArrayEquals(npy(m, "mean").floats(), spec.mean, 0f)
        assertArrayEquals(npy(m, "std").floats(), spec.std, 0f)
        val q = npy(m, "input_quantization").doubles()
        assertEquals(q[0].toFloat(), spec.inputQuantization!!.scale)
        assertEquals(q[1].toInt(), spec.inputQuantization!!.zeroPoint)
        val names = File(m, "names.txt").readLines()
        assertEquals(names[0], spec.file)
        val split = names.indexOf("")
        assertEquals(names.subList(1, split), spec.attributeNames)
        assertEquals(names.subList(split + 1, names.size).filter { it.isNotEmpty() }, spec.expressionNames)
    }

    @Test
    fun cropBoxMatches() = cases().forEach { case ->
        val crop = Geometry.squareCrop(npy(case, "landmark_box").doubles(), spec.cropScale, spec.cropShiftY)
        val expected = npy(case, "crop").doubles()
        assertArrayEquals(case.name, expected, doubleArrayOf(crop.x0, crop.y0, crop.size), 1e-9)
    }

    @Test
    fun cropPixelsMatchWithinOneGreyLevel() {
        // the halvings are exact on both sides; OpenCV's warp rounds a few bytes one level apart from
        // the float32 definition this core runs (tests/runtime/test_resample.py pins that for Python)
        val report = cases().map { case ->
            val c = npy(case, "crop").doubles()
            val cut = CropCutter.cut(image(case, "image"), Crop(c[0], c[1], c[2]), spec.inputSize)
            val expected = npy(case, "crop_pixels").bytes()
            val gaps = expected.indices.map { abs((expected[it].toInt() and 0xff) - (cut.pixels[it].toInt() and 0xff)) }
            Triple(case.name, gaps.maxOrNull() ?: 0, gaps.count { it > 0 })
        }
        assertTrue("crop bytes differing from Python's (case, worst, count): $report",
                   report.all { it.second <= 1 && it.third <= expectedBytes() / 50 })
    }

    private fun expectedBytes() = spec.inputSize * spec.inputSize * 3

    @Test
    fun inputEncodingMatchesToTheBit() = cases().forEach { case ->
        val codec = TensorCodec(spec)
        val crop = image(case, "crop_pixels")
        val floats = codec.encodeFloat(crop)
        val expectedFloats = npy(case, "input_float").floats()
        assertTrue("${case.name}: float input differs", expectedFloats.indices.all { expectedFloats[it].toRawBits() == floats[it].toRawBits() })
        assertArrayEquals("${case.name}: int8 input differs", npy(case, "input_int8").bytes(), codec.encodeInt8(crop))
    }

    @Test
    fun dequantizationMatchesToTheBit() {
        val d = dir("dequantize")
        val p = npy(d, "params").doubles()
        val got = TensorCodec.dequantize(npy(d, "values").bytes(), Quantization(p[0].toFloat(), p[1].toInt()))
        val expected = npy(d, "expected").floats()
        assertTrue(expected.indices.all { expected[it].toRawBits() == got[it].toRawBits() })
    }

    @Test
    fun decodingMatches() = cases().forEach { case ->
        val c = npy(case, "crop").doubles()
        val crop = Crop(c[0], c[1], c[2])
        val outputs = spec.tensorSizes.keys.associateWith { npy(case, "output_$it").floats() }
        val face = FaceDecoder.decode(outputs, crop, spec)
        assertClose("${case.name} dense", npy(case, "dense").floats(), face.dense, 1e-3)
        assertClose("${case.name} landmarks", npy(case, "landmarks").floats(), face.landmarks, 1e-3)
        assertClose("${case.name} visibility", npy(case, "visibility").floats(), face.visibility, 1e-6)
        assertClose("${case.name} attributes", npy(case, "attributes").floats(), spec.attributeNames.map { face.attributes.getValue(it) }.toFloatArray(), 1e-6)
        assertClose("${case.name} embedding", npy(case, "embedding").floats(), face.embedding!!, 1e-5)
        assertClose("${case.name} age", npy(case, "age").floats(), floatArrayOf(face.age ?: Float.NaN), 1e-5)
        val pose = npy(case, "pose").doubles()
        assertArrayEquals(case.name, pose.sliceArray(0 until 3), doubleArrayOf(face.pose.yaw, face.pose.pitch, face.pose.roll), 1e-4)
        assertArrayEquals(case.name, pose.sliceArray(3 until 12), face.pose.rotation, 1e-6)
        assertArrayEquals(case.name, pose.sliceArray(12 until 14), face.pose.translation.map { it.toDouble() }.toDoubleArray(), 1e-3)
        assertEquals(case.name, pose[14], face.pose.scale, 1e-3)
    }

    @Test
    fun detectorMatches() {
        val d = dir("detector")
        val blaze = BlazeFace(toLandmarks = npy(d, "calibration").doubles().let { it[0] to it[1] })
        val letterbox = blaze.letterbox(image(d, "image"))
        assertArrayEquals(npy(d, "letterbox").doubles(), doubleArrayOf(letterbox.scale, letterbox.px, letterbox.py), 1e-12)
        val canvas = npy(d, "canvas").bytes()
        val differ = canvas.indices.count { canvas[it] != letterbox.canvas.pixels[it] }
        assertEquals("$differ canvas bytes differ from Python's", 0, differ)
        assertArrayEquals(npy(d, "input").floats(), blaze.encode(letterbox.canvas), 0f)
        val found = blaze.decode(npy(d, "regressors").floats(), npy(d, "logits").floats(), letterbox)
        val expected = npy(d, "detections")
        assertEquals(expected.shape[0], found.size)
        val rows = expected.doubles()
        val boxes = npy(d, "landmark_boxes").doubles()
        found.forEachIndexed { i, det ->
            val row = rows.sliceArray(i * 17 until (i + 1) * 17)
            assertArrayEquals(row.sliceArray(0 until 4), det.box, 1e-3)
            assertEquals(row[4], det.score.toDouble(), 1e-6)
            assertArrayEquals(row.sliceArray(5 until 17), det.keypoints.map { it.toDouble() }.toDoubleArray(), 1e-3)
            assertArrayEquals(boxes.sliceArray(i * 4 until (i + 1) * 4), blaze.landmarkBox(det), 1e-3)
        }
    }

    @Test
    fun oneEuroMatches() {
        val d = dir("one_euro")
        val p = npy(d, "params").doubles()
        val filter = OneEuroFilter(p[0], p[1], p[2])
        val values = npy(d, "values")
        val dims = values.shape[1]
        val v = values.floats()
        val times = npy(d, "times").doubles()
        val expected = npy(d, "expected").floats()
        val got = FloatArray(v.size)
        for (t in times.indices) filter.filter(v.sliceArray(t * dims until (t + 1) * dims), times[t]).copyInto(got, t * dims)
        assertClose("one-euro", expected, got, 1e-4)
    }
}
