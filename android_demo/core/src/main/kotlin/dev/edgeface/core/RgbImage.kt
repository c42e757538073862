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
 * The network's crop of an image, as the Python runtime cuts it (Reconstructor.cut): outside the
 * image is black; crops more than twice the input size are first area-shrunk to twice the input
 * size, so that sampling does not alias. The arithmetic is the one edgeface/runtime/resample.py defines
 * (bilinear in float32, INTER_AREA tables), which the Python runtime runs instead of OpenCV's kernels,
 * so both sides feed the network the same bytes whatever OpenCV is installed (checked against golden crops).
 */
object CropCutter {
    fun cut(image: RgbImage, crop: Crop, size: Int): RgbImage =
        if (crop.size > 2 * size) areaCut(image, crop, size) else warp(image, crop, size)

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

    /** Cut the region at full resolution (black outside the image), area-shrink it, then warp (the Python _area_crop). */
    fun areaCut(image: RgbImage, crop: Crop, size: Int): RgbImage {
        val x0 = floor(crop.x0).toInt(); val y0 = floor(crop.y0).toInt()
        val side = ceil(crop.size + (crop.x0 - x0)).toInt()
        val region = RgbImage(side, side)
        for (y in maxOf(y0, 0) until min(y0 + side, image.height)) {
            val from = (y * image.width + maxOf(x0, 0)) * 3
            val to = ((y - y0) * side + (maxOf(x0, 0) - x0)) * 3
            val count = (min(x0 + side, image.width) - maxOf(x0, 0)) * 3
            if (count > 0) System.arraycopy(image.pixels, from, region.pixels, to, count)
        }
        val scale = 2.0 * size / crop.size
        val small = resizeArea(region, scale)
        val sub = Crop(crop.x0 - x0, crop.y0 - y0, crop.size)
        // resize maps pixel centres: x_small = (x + 0.5) * scale - 0.5
        val half = Crop((sub.x0 + 0.5) * scale - 0.5, (sub.y0 + 0.5) * scale - 0.5, sub.size * scale)
        return warp(small, half, size)
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

    /** cv2.resize(src, None, fx=scale, fy=scale, interpolation=INTER_AREA) for a shrink by a non-integer factor. */
    fun resizeArea(src: RgbImage, scale: Double): RgbImage {
        val dw = round(src.width * scale).toInt(); val dh = round(src.height * scale).toInt()
        val xTab = areaTable(src.width, dw, 1.0 / scale)
        val yTab = areaTable(src.height, dh, 1.0 / scale)
        val out = RgbImage(dw, dh)
        val row = FloatArray(dw * 3)
        val sum = FloatArray(dw * 3)
        for (dy in 0 until dh) {
            sum.fill(0f)
            for ((sy, beta) in yTab[dy]) {
                row.fill(0f)
                for (dx in 0 until dw) for ((sx, alpha) in xTab[dx]) for (c in 0 until 3) {
                    row[dx * 3 + c] += src[sx, sy, c] * alpha
                }
                for (i in sum.indices) sum[i] += beta * row[i]
            }
            for (i in sum.indices) out.pixels[dy * dw * 3 + i] = round(sum[i].toDouble()).toInt().coerceIn(0, 255).toByte()
        }
        return out
    }

    /** For each destination pixel, the source pixels it covers and their weights (OpenCV's computeResizeAreaTab). */
    private fun areaTable(sourceSize: Int, destSize: Int, scale: Double): List<List<Pair<Int, Float>>> =
        List(destSize) { dx ->
            val fsx1 = dx * scale
            val fsx2 = fsx1 + scale
            val cellWidth = min(scale, sourceSize - fsx1)
            var sx1 = ceil(fsx1).toInt()
            var sx2 = floor(fsx2).toInt()
            sx2 = min(sx2, sourceSize - 1)
            sx1 = min(sx1, sx2)
            val taps = ArrayList<Pair<Int, Float>>()
            if (sx1 - fsx1 > 1e-3) taps.add(sx1 - 1 to ((sx1 - fsx1) / cellWidth).toFloat())
            for (sx in sx1 until sx2) taps.add(sx to (1.0 / cellWidth).toFloat())
            if (fsx2 - sx2 > 1e-3) taps.add(sx2 to (min(min(fsx2 - sx2, 1.0), cellWidth) / cellWidth).toFloat())
            taps
        }
}
