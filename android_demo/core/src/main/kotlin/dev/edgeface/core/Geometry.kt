package dev.edgeface.core

import kotlin.math.cos
import kotlin.math.sin

/**
 * An axis-aligned square region of an image, in image pixels (edgeface/runtime/geometry.py's Crop).
 * Crop-normalised coordinates: u = (x - x0) / size, v = (y - y0) / size.
 */
data class Crop(val x0: Double, val y0: Double, val size: Double) {
    /** Crop-normalised (u, v[, z]) points, [stride] floats each, to image pixels; z scales like x and y. */
    fun toImage(points: FloatArray, stride: Int): FloatArray {
        val s = size.toFloat()
        val out = FloatArray(points.size)
        for (i in points.indices) {
            val scaled = points[i] * s
            out[i] = when (i % stride) {
                0 -> scaled + x0.toFloat()
                1 -> scaled + y0.toFloat()
                else -> scaled
            }
        }
        return out
    }

    /** The 2x3 matrix taking image pixels to the pixels of an outSize x outSize crop (pixel centres at integers). */
    fun affine(outSize: Int): DoubleArray {
        val s = outSize / size
        return doubleArrayOf(s, 0.0, -x0 * s - 0.5, 0.0, s, -y0 * s - 0.5)
    }
}

object Geometry {
    /** The crop rule used everywhere: a square of side scale * mean(w, h) on the box centre, moved down by shiftY * h. */
    fun squareCrop(box: DoubleArray, scale: Double, shiftY: Double = 0.0): Crop {
        val (x1, y1, x2, y2) = box.toList()
        val w = x2 - x1
        val h = y2 - y1
        require(w > 0 && h > 0) { "box must have positive width and height" }
        val side = scale * 0.5 * (w + h)
        val cx = 0.5 * (x1 + x2)
        val cy = 0.5 * (y1 + y2) + shiftY * h
        return Crop(cx - 0.5 * side, cy - 0.5 * side, side)
    }

    /** A detector box to the box of the face's 68 landmarks, with the detector's calibration (ratio, shift). */
    fun toLandmarkBox(box: DoubleArray, ratio: Double, shiftY: Double): DoubleArray {
        val (x1, y1, x2, y2) = box.toList()
        val cx = 0.5 * (x1 + x2)
        val cy = 0.5 * (y1 + y2) + shiftY * (y2 - y1)
        val hw = 0.5 * ratio * (x2 - x1)
        val hh = 0.5 * ratio * (y2 - y1)
        return doubleArrayOf(cx - hw, cy - hh, cx + hw, cy + hh)
    }

    /** Row-major 3x3 rotation of (pitch, yaw, roll) radians: R = Rz(-roll) Ry(-yaw) Rx(-pitch). */
    fun eulerToMatrix(pitch: Double, yaw: Double, roll: Double): DoubleArray {
        val cx = cos(-pitch); val sx = sin(-pitch)
        val cy = cos(-yaw); val sy = sin(-yaw)
        val cz = cos(-roll); val sz = sin(-roll)
        val rx = arrayOf(doubleArrayOf(1.0, 0.0, 0.0), doubleArrayOf(0.0, cx, -sx), doubleArrayOf(0.0, sx, cx))
        val ry = arrayOf(doubleArrayOf(cy, 0.0, sy), doubleArrayOf(0.0, 1.0, 0.0), doubleArrayOf(-sy, 0.0, cy))
        val rz = arrayOf(doubleArrayOf(cz, -sz, 0.0), doubleArrayOf(sz, cz, 0.0), doubleArrayOf(0.0, 0.0, 1.0))
        fun mul(a: Array<DoubleArray>, b: Array<DoubleArray>) =
            Array(3) { i -> DoubleArray(3) { j -> (0 until 3).sumOf { k -> a[i][k] * b[k][j] } } }
        return mul(mul(rz, ry), rx).flatMap { it.toList() }.toDoubleArray()
    }
}
