package dev.edgeface.core

import kotlin.math.exp

/** Head pose: degrees (edgeface/runtime/geometry.py's convention), row-major rotation, translation in image pixels, pixels per model cm. */
data class Pose(val yaw: Double, val pitch: Double, val roll: Double, val rotation: DoubleArray,
                val translation: FloatArray, val scale: Double)

/** One face, decoded from the network's outputs: the fields of the Python `Face` an app draws. */
class Face(
    val crop: Crop,
    /** 520 x (x, y, z) in image pixels, z towards the camera. */
    val dense: FloatArray,
    /** 68 x (x, y, z), Multi-PIE order. */
    val landmarks: FloatArray,
    val pose: Pose,
    val identity: FloatArray,
    val expression: Map<String, Float>,
    val attributes: Map<String, Float>,
    val visibility: FloatArray,
    /** Apparent age in years, where the model has an age output. */
    val age: Float? = null,
    /** "female" or "male", where the model declares a gender attribute. */
    val gender: String? = null,
    /** Unit vector that tells people apart ([ModelSpec.embedding]): compare two faces with [similarity]. */
    val embedding: FloatArray? = null,
    /** Outputs of the pack this core does not decode, by name, as the network gave them (the manifest
     *  lists each output with its meaning): a new output reaches the app here. */
    val extra: Map<String, FloatArray> = emptyMap(),
) {
    /** How alike two faces' identities are, from -1 to 1: the dot product of their embeddings. */
    fun similarity(other: Face): Float {
        val a = requireNotNull(embedding) { "this face has no embedding" }
        val b = requireNotNull(other.embedding) { "the other face has no embedding" }
        require(a.size == b.size) { "these faces come from different models: embeddings of ${a.size} and ${b.size} values" }
        return a.indices.fold(0.0) { sum, i -> sum + a[i].toDouble() * b[i] }.toFloat()
    }

    /** The [count] most likely attributes, most likely first. */
    fun topAttributes(count: Int = 3): List<Pair<String, Float>> =
        attributes.entries.sortedByDescending { it.value }.take(count).map { it.key to it.value }
}

object FaceDecoder {
    private val DECODED = ModelSpec.OUTPUT_NAMES + "age"

    /** Float outputs of one image by name (each of the file's tensors, [ModelSpec.tensorSizes]), from the crop [crop], to a Face. */
    fun decode(outputs: Map<String, FloatArray>, crop: Crop, spec: ModelSpec): Face {
        for (name in spec.tensorSizes.keys) {
            val got = outputs[name]?.size ?: throw IllegalArgumentException("output '$name' is missing")
            require(got == spec.outputSize(name)) { "output '$name' has $got values, the manifest implies ${spec.outputSize(name)}" }
        }
        val dense = crop.toImage(outputs.getValue("dense"), 3)
        val p = outputs.getValue("pose").map { it.toDouble() }
        val (pitch, yaw, roll) = p
        val pose = Pose(
            yaw = Math.toDegrees(yaw), pitch = Math.toDegrees(pitch), roll = Math.toDegrees(roll),
            rotation = Geometry.eulerToMatrix(pitch, yaw, roll),
            translation = crop.toImage(floatArrayOf(outputs.getValue("pose")[3], outputs.getValue("pose")[4]), 2),
            scale = p[5] * crop.size,
        )
        val landmarks = spec.landmarks(dense, pose.yaw)
        val expression = spec.expressionNames.zip(outputs.getValue("expression").toList()).toMap()
        val logits = outputs.getValue("attributes")
        val attributes = spec.attributeNames.zip(logits.take(spec.attributeNames.size).map(::sigmoid)).toMap()
        // schema 2: age is its own output; schema 1: a column of the attributes tensor
        val age = (outputs["age"]?.get(0) ?: spec.ageColumn?.let { logits[it] })?.let { maxOf(0f, it) }
        val gender = spec.genderAttribute?.let { if (attributes.getValue(it) >= 0.5f) "male" else "female" }
        val identity = outputs.getValue("identity").copyOf()
        val extra = spec.tensorSizes.keys.filter { it !in DECODED }.associateWith { outputs.getValue(it).copyOf() }
        return Face(crop, dense, landmarks, pose, identity, expression, attributes,
            outputs.getValue("visibility").map(::sigmoid).toFloatArray(), age, gender, spec.embedding(identity), extra)
    }

    fun sigmoid(x: Float): Float = 1.0f / (1.0f + exp(-x.coerceIn(-30f, 30f)))
}
