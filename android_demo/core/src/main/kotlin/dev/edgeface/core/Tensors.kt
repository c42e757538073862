package dev.edgeface.core

import kotlin.math.round

/**
 * Crop pixels to the network's input tensor and integer outputs back to floats, with the Python
 * runtime's arithmetic (edgeface/runtime/model.py): float32 throughout, in the same order, so both sides
 * produce the same bits.
 */
class TensorCodec(private val spec: ModelSpec) {
    // v = x * a + b = (x / 255 - mean) / std per channel, as the runtime computes its constants
    private val pixelScale = FloatArray(3) { 1.0f / (255.0f * spec.std[it]) }
    private val pixelOffset = FloatArray(3) { -spec.mean[it] / spec.std[it] }

    init {
        require(spec.layout == "NHWC") { "this app feeds NHWC files (TFLite); the manifest says ${spec.layout}" }
    }

    /** Normalised float32 input (NHWC, one image) of an RGB crop. */
    fun encodeFloat(crop: RgbImage): FloatArray {
        checkCrop(crop)
        return FloatArray(crop.pixels.size) { normalised(crop, it) }
    }

    /** int8 input of an RGB crop for a file with int8 input: round(v / scale) + zero point, ties to even. */
    fun encodeInt8(crop: RgbImage): ByteArray = ByteArray(crop.pixels.size).also { encodeInt8(crop, it) }

    /** The same into [out], which a camera loop allocates once. */
    fun encodeInt8(crop: RgbImage, out: ByteArray) {
        val q = spec.inputQuantization ?: throw IllegalStateException("${spec.file} takes float input, not int8")
        checkCrop(crop)
        require(out.size == crop.pixels.size) { "output holds ${out.size} values, the input has ${crop.pixels.size}" }
        val z = q.zeroPoint.toFloat()
        for (i in out.indices) out[i] = (round(normalised(crop, i) / q.scale) + z).coerceIn(-128f, 127f).toInt().toByte()
    }

    /** Value [i] of the normalised input: x * a + b in float32, in the manifest's channel order. */
    private fun normalised(crop: RgbImage, i: Int): Float {
        val channel = i % 3
        val c = if (spec.rgb) channel else 2 - channel  // BGR files: swap the crop's R and B
        val x = crop.pixels[i - channel + c].toInt() and 0xff
        return x.toFloat() * pixelScale[channel] + pixelOffset[channel]
    }

    private fun checkCrop(crop: RgbImage) =
        require(crop.width == spec.inputSize && crop.height == spec.inputSize) {
            "crop is ${crop.width}x${crop.height}, the model takes ${spec.inputSize}x${spec.inputSize}"
        }

    companion object {
        /** int8 values to floats: (q - zeroPoint) * scale, in float32. */
        fun dequantize(values: ByteArray, q: Quantization): FloatArray =
            FloatArray(values.size) { (values[it].toFloat() - q.zeroPoint.toFloat()) * q.scale }

        /** uint8 values (Java bytes read unsigned) to floats. */
        fun dequantizeUnsigned(values: ByteArray, q: Quantization): FloatArray =
            FloatArray(values.size) { ((values[it].toInt() and 0xff).toFloat() - q.zeroPoint.toFloat()) * q.scale }
    }
}
