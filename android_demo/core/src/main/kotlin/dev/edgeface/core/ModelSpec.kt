package dev.edgeface.core

/** Integer tensor encoding: real = (q - zeroPoint) * scale. */
data class Quantization(val scale: Float, val zeroPoint: Int)

/**
 * What an app needs from a model pack's manifest (edgeface.json) to feed one model file and read
 * it back: the same fields the Python runtime reads (edgeface/model.py), for one file.
 */
class ModelSpec(
    val name: String,
    val inputSize: Int,
    val rgb: Boolean,
    val mean: FloatArray,
    val std: FloatArray,
    val cropScale: Double,
    val cropShiftY: Double,
    val numPoints: Int,
    val landmarks68: IntArray,
    val triangles: IntArray,
    val identitySize: Int,
    val expressionNames: List<String>,
    val attributeNames: List<String>,
    val file: String,
    val layout: String,
    /** Output name (dense, pose, identity, expression, attributes, visibility) -> tensor name. */
    val outputs: Map<String, String>,
    val inputQuantization: Quantization?,
    val outputQuantization: Map<String, Quantization>,
) {
    companion object {
        val OUTPUT_NAMES = listOf("dense", "pose", "identity", "expression", "attributes", "visibility")

        /** The spec of the manifest's file of this format and precision. */
        fun fromManifest(text: String, format: String = "tflite", precision: String = "int8"): ModelSpec {
            val root = Json.parse(text) as? Map<*, *> ?: throw ModelSpecError("the manifest is not a JSON object")
            fun Map<*, *>.need(key: String): Any = this[key] ?: throw ModelSpecError("the manifest lacks the field '$key'")
            fun Any.num() = (this as? Double) ?: throw ModelSpecError("expected a number, got $this")
            fun Any.list() = (this as? List<*>) ?: throw ModelSpecError("expected a list, got $this")
            fun Any.obj() = (this as? Map<*, *>) ?: throw ModelSpecError("expected an object, got $this")
            if (root.need("schema").num() != 1.0) throw ModelSpecError("manifest schema ${root["schema"]} is not supported (this reads schema 1)")
            val input = root.need("input").obj()
            val crop = root.need("crop").obj()
            val topology = root.need("topology").obj()
            val files = root.need("files").list().map { it!!.obj() }
            val entry = files.firstOrNull { it["format"] == format && it["precision"] == precision }
                ?: throw ModelSpecError("the pack has no $precision $format file; it has " +
                    files.joinToString { "${it["format"]}:${it["precision"]}" })
            fun quantization(q: Any?) = q?.obj()?.let { Quantization(it.need("scale").num().toFloat(), it.need("zero_point").num().toInt()) }
            val numPoints = topology.need("num_points").num().toInt()
            val landmarks = topology.need("landmarks68").list().map { it!!.num().toInt() }.toIntArray()
            if (landmarks.size != 68 || landmarks.any { it !in 0 until numPoints }) throw ModelSpecError("landmarks68 must be 68 indices below $numPoints")
            val outputs = entry.need("outputs").obj().entries.associate { (k, v) -> k as String to v as String }
            OUTPUT_NAMES.forEach { if (it !in outputs) throw ModelSpecError("the file entry names no tensor for output '$it'") }
            return ModelSpec(
                name = root.need("name") as String,
                inputSize = input.need("size").num().toInt(),
                rgb = (input["channels"] as? String ?: "RGB").uppercase() == "RGB",
                mean = input.need("mean").list().map { it!!.num().toFloat() }.toFloatArray(),
                std = input.need("std").list().map { it!!.num().toFloat() }.toFloatArray(),
                cropScale = crop.need("scale").num(),
                cropShiftY = (crop["shift_y"] as? Double) ?: 0.0,
                numPoints = numPoints,
                landmarks68 = landmarks,
                triangles = topology.need("triangles").list().flatMap { t -> t!!.list().map { it!!.num().toInt() } }.toIntArray(),
                identitySize = root.need("identity_size").num().toInt(),
                expressionNames = root.need("expression_names").list().map { it as String },
                attributeNames = root.need("attribute_names").list().map { it as String },
                file = entry.need("path") as String,
                layout = (entry["layout"] as? String) ?: "NCHW",
                outputs = outputs,
                inputQuantization = quantization(entry["input_quantization"]),
                outputQuantization = (entry["output_quantization"]?.obj() ?: emptyMap<String, Any>())
                    .entries.associate { (k, v) -> k as String to quantization(v)!! },
            )
        }
    }

    /** Values per output, without the batch dimension. */
    fun outputSize(name: String): Int = when (name) {
        "dense" -> numPoints * 3
        "pose" -> 6
        "identity" -> identitySize
        "expression" -> expressionNames.size
        "attributes" -> attributeNames.size
        "visibility" -> numPoints
        else -> throw IllegalArgumentException("unknown output $name")
    }
}

class ModelSpecError(message: String) : RuntimeException(message)
