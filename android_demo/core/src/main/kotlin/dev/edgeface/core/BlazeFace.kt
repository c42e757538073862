package dev.edgeface.core

import kotlin.math.ceil
import kotlin.math.exp
import kotlin.math.max
import kotlin.math.min

/** A face found by the detector: box x1, y1, x2, y2 and six keypoints (eyes, nose, mouth, ears), image pixels. */
class Detection(val box: DoubleArray, val score: Float, val keypoints: FloatArray)

/** The detector input: the image letterboxed into a square canvas, and the mapping canvas = image * scale + (px, py). */
class Letterbox(val canvas: RgbImage, val scale: Double, val px: Double, val py: Double)

/**
 * MediaPipe's BlazeFace short-range detector around a LiteRT interpreter the app owns (the same
 * file and decoding as edgeface/runtime/detectors/blazeface.py): letterbox, input normalisation, SSD
 * anchor decoding, weighted non-maximum suppression, and the calibration from its boxes to the
 * 68-landmark box that the crop rule expects.
 */
class BlazeFace(
    val size: Int = 128,
    strides: IntArray = intArrayOf(8, 16, 16, 16),
    perLayer: Int = 2,
    private val minScore: Float = 0.5f,
    private val iouThreshold: Double = 0.3,
    /** Detector box to 68-landmark box: (size ratio, downward shift in box heights), as measured in Python. */
    val toLandmarks: Pair<Double, Double> = 0.93 to 0.048,
) {
    /** Anchor centres (x, y) in [0, 1]; consecutive layers of one stride share a grid. */
    val anchors: FloatArray = run {
        val out = ArrayList<Float>()
        var i = 0
        while (i < strides.size) {
            val stride = strides[i]
            var count = 0
            while (i < strides.size && strides[i] == stride) { count += perLayer; i++ }
            val cells = ceil(size.toDouble() / stride).toInt()
            for (y in 0 until cells) for (x in 0 until cells) repeat(count) {
                out.add(((x + 0.5) / cells).toFloat()); out.add(((y + 0.5) / cells).toFloat())
            }
        }
        out.toFloatArray()
    }

    fun letterbox(image: RgbImage): Letterbox {
        val scale = size.toDouble() / max(image.width, image.height)
        var small = image
        var factor = 1.0
        while (max(small.width, small.height) > 2 * size) { small = CropCutter.pyrDown(small); factor *= 2.0 }
        val px = (size - image.width * scale) / 2
        val py = (size - image.height * scale) / 2
        val m = doubleArrayOf(scale * factor, 0.0, px, 0.0, scale * factor, py)
        return Letterbox(CropCutter.warpAffine(small, m, size, size), scale, px, py)
    }

    /** The detector's float input (NHWC RGB in [-1, 1]). */
    fun encode(canvas: RgbImage): FloatArray =
        FloatArray(canvas.pixels.size) { ((canvas.pixels[it].toInt() and 0xff).toFloat() - 127.5f) / 127.5f }

    /** Raw outputs (16 regressors and one logit per anchor) to faces in image pixels, best first. */
    fun decode(regressors: FloatArray, logits: FloatArray, letterbox: Letterbox): List<Detection> {
        val count = anchors.size / 2
        require(logits.size == count && regressors.size == count * 16) { "expected $count anchors of 16 regressors and a logit" }
        val s = size.toFloat()
        val boxes = ArrayList<DoubleArray>(); val scores = ArrayList<Float>(); val points = ArrayList<FloatArray>()
        for (a in 0 until count) {
            val score = 1.0f / (1.0f + exp(-logits[a].coerceIn(-50f, 50f)))
            if (score < minScore) continue
            val r = FloatArray(16) { regressors[a * 16 + it] / s }
            val ax = anchors[2 * a]; val ay = anchors[2 * a + 1]
            val cx = r[0] + ax; val cy = r[1] + ay
            val hw = r[2] / 2; val hh = r[3] / 2
            val box = floatArrayOf((cx - hw) * s, (cy - hh) * s, (cx + hw) * s, (cy + hh) * s)
            val ox = letterbox.px.toFloat(); val oy = letterbox.py.toFloat(); val sc = letterbox.scale.toFloat()
            boxes.add(DoubleArray(4) { ((box[it] - if (it % 2 == 0) ox else oy) / sc).toDouble() })
            points.add(FloatArray(12) { k -> ((r[4 + k] + if (k % 2 == 0) ax else ay) * s - if (k % 2 == 0) ox else oy) / sc })
            scores.add(score)
        }
        return weightedNms(boxes, scores, points)
    }

    /** The crop rule's 68-landmark box of a detection. */
    fun landmarkBox(detection: Detection): DoubleArray =
        Geometry.toLandmarkBox(detection.box, toLandmarks.first, toLandmarks.second)

    /** Detections of one face averaged by score (steadier boxes between frames than keeping the best alone). */
    private fun weightedNms(boxes: List<DoubleArray>, scores: List<Float>, points: List<FloatArray>): List<Detection> {
        val order = scores.indices.sortedByDescending { scores[it] }
        val alive = BooleanArray(order.size) { true }
        val found = ArrayList<Detection>()
        for ((rank, i) in order.withIndex()) {
            if (!alive[rank]) continue
            var weight = 0.0
            val box = DoubleArray(4); val kps = DoubleArray(12)
            for ((other, j) in order.withIndex()) {
                if (!alive[other] || (other != rank && iou(boxes[i], boxes[j]) < iouThreshold)) continue
                alive[other] = false
                val w = scores[j].toDouble()
                weight += w
                for (k in 0 until 4) box[k] += boxes[j][k] * w
                for (k in 0 until 12) kps[k] += points[j][k] * w
            }
            found.add(Detection(DoubleArray(4) { box[it] / weight }, scores[i], FloatArray(12) { (kps[it] / weight).toFloat() }))
        }
        return found
    }

    private fun iou(a: DoubleArray, b: DoubleArray): Double {
        val w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        val h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        val inter = w * h
        val union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / max(union, 1e-9)
    }
}
