package dev.edgeface.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.min
import kotlin.math.round

/** 8-bit RGB pixels, row-major, 3 bytes each (what an app gets from a camera frame or a Bitmap). */
class RgbImage(val width: Int, val height: Int, val pixels: ByteArray = ByteArray(width * height * 3)) {
    init {
        require(width > 0 && height > 0) { "image is empty ($width x $height)" }
        require(pixels.size == width * height * 3) { "expected ${width * height * 3} bytes for $width x $height RGB, got ${pixels.size}" }
    }

    operator fun get(x: Int, y: Int, c: Int): Int = pixels[(y * width + x) * 3 + c].toInt() and 0xff

    companion object {
        /**
         * An upright image from a camera's RGBA_8888 plane (CameraX ImageAnalysis): rows of
         * [rowStride] bytes, turned by [rotationDegrees] clockwise (ImageInfo.rotationDegrees) and,
         * for a front camera, mirrored so that it matches what the preview shows.
         */
        fun fromRgba(width: Int, height: Int, rowStride: Int, rgba: ByteArray, rotationDegrees: Int, mirror: Boolean): RgbImage {
            require(rotationDegrees in setOf(0, 90, 180, 270)) { "rotation must be 0, 90, 180 or 270 degrees, not $rotationDegrees" }
            require(rowStride >= width * 4 && rgba.size >= rowStride * (height - 1) + width * 4) { "RGBA plane too small for $width x $height" }
            val turned = rotationDegrees % 180 != 0
            val w = if (turned) height else width
            val h = if (turned) width else height
            val out = ByteArray(w * h * 3)
            for (y in 0 until h) for (x in 0 until w) {
                val ux = if (mirror) w - 1 - x else x
                // the source pixel that lands on (ux, y) after a clockwise turn (no Pair: this runs per pixel)
                val sx = when (rotationDegrees) { 0 -> ux; 90 -> y; 180 -> width - 1 - ux; else -> width - 1 - y }
                val sy = when (rotationDegrees) { 0 -> y; 90 -> height - 1 - ux; 180 -> height - 1 - y; else -> ux }
                val from = sy * rowStride + sx * 4
                val to = (y * w + x) * 3
                out[to] = rgba[from]; out[to + 1] = rgba[from + 1]; out[to + 2] = rgba[from + 2]
            }
            return RgbImage(w, h, out)
        }

        /** From Android's ARGB_8888 ints (Bitmap.getPixels). */
        fun fromArgb(width: Int, height: Int, argb: IntArray): RgbImage {
            val out = ByteArray(width * height * 3)
            for (i in argb.indices) {
                out[3 * i] = (argb[i] shr 16).toByte()
                out[3 * i + 1] = (argb[i] shr 8).toByte()
                out[3 * i + 2] = argb[i].toByte()
            }
            return RgbImage(width, height, out)
        }
    }
}

/**
 * The network's crop of an image, as the Python runtime cuts it (edgeface/runtime/resample.py, `crop`):
 * outside the image is black; a crop more than twice the input size first has its region halved
 * (2x2 blocks, (a + b + c + d + 2) shr 2, on a grid that [window] fixes) until at most two of its
 * pixels fall on one crop pixel, then one bilinear warp. The halvings are exact on both sides; the
 * warp here is the float32 definition, which OpenCV's (the Python side's) matches within one grey
 * level on a small share of bytes (checked against golden crops).
 */
object CropCutter {
    /** A crop more than this many times the input is halved first. */
    const val MAX_WARP_FACTOR = 2.0

    fun cut(image: RgbImage, crop: Crop, size: Int): RgbImage {
        var m = 0
        while (crop.size / (size * (1 shl m).toDouble()) > MAX_WARP_FACTOR) m++
        if (m == 0) return warp(image, crop, size)
        val k = 1 shl m
        val f = crop.size / size
        // the whole-pixel square the halvings read: one halved pixel of margin, corner on the k-grid
        val left0 = Math.floorDiv(floor(crop.x0).toInt(), k) * k - k
        val top0 = Math.floorDiv(floor(crop.y0).toInt(), k) * k - k
        val blocks = maxOf(ceil((crop.x0 + crop.size - left0) / k).toInt(), ceil((crop.y0 + crop.size - top0) / k).toInt())
        val width = (blocks + 2) * k
        // only the blocks that reach into the image
        val (left, cols) = onImage(left0, width, image.width, k)
        val (top, rows) = onImage(top0, width, image.height, k)
        if (cols == 0 || rows == 0) return RgbImage(size, size)
        var source = window(image, left, top, cols, rows)
        repeat(m) { source = halve(source) }
        // crop pixel o's centre: x0 + (o + 0.5) f; halved pixel u's: left + k u + (k - 1) / 2
        val shift = (k - 1) / 2.0
        val matrix = doubleArrayOf(k / f, 0.0, (left + shift - crop.x0) / f - 0.5,
                                   0.0, k / f, (top + shift - crop.y0) / f - 0.5)
        return warpAffine(source, matrix, size, size)
    }

    /** The whole k-blocks of [start, start + length) that reach into [0, n): (first pixel, length). */
    private fun onImage(start: Int, length: Int, n: Int, k: Int): Pair<Int, Int> {
        val first = start + maxOf(0, -start) / k * k
        val end = start + Math.floorDiv(-(minOf(start + length, n) - start), k) * -k
        return first to maxOf(end - first, 0)
    }

    /** The width x height region at (left, top), black outside the image. */
    fun window(image: RgbImage, left: Int, top: Int, width: Int, height: Int): RgbImage {
        val out = RgbImage(width, height)
        val x0 = maxOf(left, 0); val x1 = min(left + width, image.width)
        if (x1 <= x0) return out
        for (y in maxOf(top, 0) until min(top + height, image.height)) {
            System.arraycopy(image.pixels, (y * image.width + x0) * 3, out.pixels, ((y - top) * width + (x0 - left)) * 3, (x1 - x0) * 3)
        }
        return out
    }

    /** (2H, 2W) -> (H, W): each 2x2 block's (a + b + c + d + 2) shr 2 (OpenCV's INTER_AREA at one half). */
    fun halve(src: RgbImage): RgbImage {
        val w = src.width / 2; val h = src.height / 2
        val out = RgbImage(w, h)
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
            val sum = src[2 * x, 2 * y, c] + src[2 * x + 1, 2 * y, c] + src[2 * x, 2 * y + 1, c] + src[2 * x + 1, 2 * y + 1, c]
            out.pixels[(y * w + x) * 3 + c] = ((sum + 2) shr 2).toByte()
        }
        return out
    }

    /** cv2.warpAffine(image, crop.affine(size), (size, size), INTER_LINEAR, BORDER_CONSTANT 0). */
    fun warp(image: RgbImage, crop: Crop, size: Int): RgbImage = warpAffine(image, crop.affine(size), size, size)

    /** cv2.warpAffine(image, m, (width, height), INTER_LINEAR, BORDER_CONSTANT 0); m row-major 2x3, image to output. */
    fun warpAffine(image: RgbImage, m: DoubleArray, width: Int, height: Int): RgbImage {
        // invertAffineTransform in double, in OpenCV's order of operations; then, as OpenCV 5's
        // warp kernels do, source coordinates and interpolation in float32, rounded half to even.
        var d = m[0] * m[4] - m[1] * m[3]
        d = if (d != 0.0) 1.0 / d else 0.0
        val a11 = m[4] * d; val a22 = m[0] * d; val a12 = -m[1] * d; val a21 = -m[3] * d
        val b1 = -a11 * m[2] - a12 * m[5]; val b2 = -a21 * m[2] - a22 * m[5]
        val i0 = a11.toFloat(); val i1 = a12.toFloat(); val i2 = b1.toFloat()
        val i3 = a21.toFloat(); val i4 = a22.toFloat(); val i5 = b2.toFloat()
        val out = RgbImage(width, height)
        for (y in 0 until height) {
            val fy = y.toFloat()
            val rowX = i1 * fy + i2
            val rowY = i4 * fy + i5
            for (x in 0 until width) {
                val fx = x.toFloat()
                val sx = i0 * fx + rowX
                val sy = i3 * fx + rowY
                val x0 = floor(sx).toInt(); val y0 = floor(sy).toInt()
                val ax = sx - x0; val ay = sy - y0
                for (c in 0 until 3) {
                    fun at(px: Int, py: Int) = if (px in 0 until image.width && py in 0 until image.height) image[px, py, c].toFloat() else 0f
                    val p00 = at(x0, y0); val p01 = at(x0 + 1, y0); val p10 = at(x0, y0 + 1); val p11 = at(x0 + 1, y0 + 1)
                    val v0 = p00 + ax * (p01 - p00)
                    val v1 = p10 + ax * (p11 - p10)
                    val v = v0 + ay * (v1 - v0)
                    out.pixels[(y * width + x) * 3 + c] = round(v).toInt().coerceIn(0, 255).toByte()
                }
            }
        }
        return out
    }

    /** cv2.pyrDown: 5-tap [1 4 6 4 1] Gaussian both ways (border reflect-101), then every other pixel. */
    fun pyrDown(src: RgbImage): RgbImage {
        val dw = (src.width + 1) / 2; val dh = (src.height + 1) / 2
        fun reflect(i: Int, n: Int): Int {
            if (n == 1) return 0
            var k = i
            while (k < 0 || k >= n) k = if (k < 0) -k else 2 * n - 2 - k
            return k
        }
        val taps = intArrayOf(1, 4, 6, 4, 1)
        val rows = IntArray(dw * 3 * src.height)
        for (y in 0 until src.height) for (dx in 0 until dw) for (c in 0 until 3) {
            var v = 0
            for (k in 0 until 5) v += taps[k] * src[reflect(2 * dx + k - 2, src.width), y, c]
            rows[(y * dw + dx) * 3 + c] = v
        }
        val out = RgbImage(dw, dh)
        for (dy in 0 until dh) for (dx in 0 until dw) for (c in 0 until 3) {
            var v = 0
            for (k in 0 until 5) v += taps[k] * rows[(reflect(2 * dy + k - 2, src.height) * dw + dx) * 3 + c]
            out.pixels[(dy * dw + dx) * 3 + c] = ((v + 128) shr 8).toByte()
        }
        return out
    }
}
