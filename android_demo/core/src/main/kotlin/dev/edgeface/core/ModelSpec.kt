package dev.edgeface.core

/** Integer tensor encoding: real = (q - zeroPoint) * scale. */
data class Quantization(val scale: Float, val zeroPoint: Int)

/**
 * What an app needs from a model pack's manifest (edgeface.json) to feed one model file and read
 * it back: the same fields the Python runtime reads (edgeface/runtime/pack.py), for one file; the
 * structure both follow is edgeface/runtime/pack.schema.json (checked against this by SchemaTest).
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
    /** Each landmark as a convex combination of dense points (edgeface/runtime/pipeline.py `landmarks`):
     *  the ICT vertex alone, or the aligned definition (`topology.landmark_weights`). */
    val landmarkPoints: Array<IntArray>,
    val landmarkWeights: Array<FloatArray>,
    /** Optional weights per head yaw (`landmark_weights.by_yaw`, edgeface/runtime/pipeline.py
     *  `landmark_weights_at`): anchor yaws in degrees, increasing, and per anchor the 68 rows on
     *  [landmarkPoints]; interpolated linearly between anchors, held beyond. Empty: [landmarkWeights]. */
    val landmarkYaw: DoubleArray = DoubleArray(0),
    val landmarkWeightsByYaw: Array<Array<FloatArray>> = emptyArray(),
    val triangles: IntArray,
    val identitySize: Int,
    val expressionNames: List<String>,
    val attributeNames: List<String>,
    /** Schema 1 only: the column of the attributes tensor that holds age in years (right after the
     *  logits), or null. Schema 2 packs give age as its own output, named "age". */
    val ageColumn: Int? = null,
    /** The attribute whose probability says gender (manifest `gender.attribute`, e.g. Male), or null. */
    val genderAttribute: String? = null,
    /** Manifest `identity_metric` (edgeface/runtime/pipeline.py `identity_embedding`): the centre and the
     *  row-major identitySize x identitySize whitening of the identity coefficients, or null. */
    val identityMean: FloatArray? = null,
    val identityWhitening: FloatArray? = null,
    val file: String,
    val layout: String,
    /** Output name -> tensor name in the file, for every tensor the file's outputs hold. */
    val outputs: Map<String, String>,
    /** Values per face of each of the file's output tensors, in the manifest's order: [OUTPUT_NAMES],
     *  "age" where the pack has it as an output, and any output this core does not decode ([Face.extra]). */
    val tensorSizes: Map<String, Int>,
    val inputQuantization: Quantization?,
    val outputQuantization: Map<String, Quantization>,
) {
    companion object {
        /** The outputs every pack has (schema 1 implied these six; schema 2 lists them by name). */
        val OUTPUT_NAMES = listOf("dense", "pose", "identity", "expression", "attributes", "visibility")

        /** The spec of the manifest's file of this format and precision. */
        fun fromManifest(text: String, format: String = "tflite", precision: String = "int8"): ModelSpec {
            val root = Json.parse(text) as? Map<*, *> ?: throw ModelSpecError("the manifest is not a JSON object")
            fun Map<*, *>.need(key: String): Any = this[key] ?: throw ModelSpecError("the manifest lacks the field '$key'")
            fun Any.num() = (this as? Double) ?: throw ModelSpecError("expected a number, got $this")
            fun Any.list() = (this as? List<*>) ?: throw ModelSpecError("expected a list, got $this")
            fun Any.obj() = (this as? Map<*, *>) ?: throw ModelSpecError("expected an object, got $this")
            val schema = root.need("schema").num()
            if (schema != 1.0 && schema != 2.0) throw ModelSpecError("manifest schema ${root["schema"]} is not supported (this reads schemas 1 and 2)")
            val input = root.need("input").obj()
            val crop = root.need("crop").obj()
            val topology = root.need("topology").obj()
            val files = root.need("files").list().map { it!!.obj() }
            val entry = files.firstOrNull { it["format"] == format && it["precision"] == precision }
                ?: throw ModelSpecError("the pack has no $precision $format file; it has " +
                    files.joinToString { "${it["format"]}:${it["precision"]}" })
            // fields the pack schema requires that this reader does not otherwise use (edgeface/runtime/pack.schema.json)
            topology.need("name"); topology.need("version")
            val digest = entry.need("sha256") as? String
            if (digest == null || !Regex("^[0-9a-f]{64}$").matches(digest)) throw ModelSpecError("the file entry's sha256 must be 64 lower-case hex digits")
            if (crop.need("scale").num() <= 0.0) throw ModelSpecError("crop.scale must be positive")
            fun quantization(q: Any?) = q?.obj()?.let { Quantization(it.need("scale").num().toFloat(), it.need("zero_point").num().toInt()) }
            val numPoints = topology.need("num_points").num().toInt()
            val landmarks = topology.need("landmarks68").list().map { it!!.num().toInt() }.toIntArray()
            if (landmarks.size != 68 || landmarks.any { it !in 0 until numPoints }) throw ModelSpecError("landmarks68 must be 68 indices below $numPoints")
            val definition = topology["landmark_weights"]?.obj()
            val landmarkPoints = definition?.need("points")?.list()?.map { row -> row!!.list().map { it!!.num().toInt() }.toIntArray() }
                ?: landmarks.map { intArrayOf(it) }
            val landmarkWeights = definition?.need("weights")?.list()?.map { row -> row!!.list().map { it!!.num().toFloat() }.toFloatArray() }
                ?: landmarks.map { floatArrayOf(1f) }
            if (landmarkPoints.size != 68 || landmarkWeights.size != 68 ||
                landmarkPoints.indices.any { landmarkPoints[it].size != landmarkWeights[it].size || landmarkPoints[it].isEmpty() })
                throw ModelSpecError("landmark_weights must give 68 rows of matching, non-empty points and weights")
            if (landmarkPoints.any { row -> row.any { it !in 0 until numPoints } }) throw ModelSpecError("a landmark_weights point is outside 0..${numPoints - 1}")
            fun checkWeights(rows: List<FloatArray>) {
                if (rows.any { row -> row.any { it < 0f } || kotlin.math.abs(row.sum() - 1f) > 1e-3f })
                    throw ModelSpecError("each landmark's weights must be non-negative and sum to 1")
            }
            checkWeights(landmarkWeights)
            val byYaw = definition?.get("by_yaw")?.obj()
            val landmarkYaw = byYaw?.need("yaw_degrees")?.list()?.map { it!!.num() }?.toDoubleArray() ?: DoubleArray(0)
            val weightsByYaw = byYaw?.need("weights")?.list()?.map { anchor ->
                anchor!!.list().map { row -> row!!.list().map { it!!.num().toFloat() }.toFloatArray() }
            } ?: emptyList()
            if (byYaw != null) {
                if (landmarkYaw.size < 2 || (1 until landmarkYaw.size).any { landmarkYaw[it] <= landmarkYaw[it - 1] })
                    throw ModelSpecError("landmark_weights.by_yaw: yaw_degrees must be two or more increasing angles")
                if (weightsByYaw.size != landmarkYaw.size) throw ModelSpecError("landmark_weights.by_yaw: one set of weights per anchor yaw is needed")
                if (weightsByYaw.any { rows -> rows.size != 68 || rows.indices.any { rows[it].size != landmarkPoints[it].size } })
                    throw ModelSpecError("landmark_weights.by_yaw: each anchor needs 68 rows matching landmark_weights.points")
                weightsByYaw.forEach(::checkWeights)
            }
            val identitySize = root.need("identity_size").num().toInt()
            val metric = root["identity_metric"]?.obj()
            val outputs = entry.need("outputs").obj().entries.associate { (k, v) -> k as String to v as String }
            val attributeCount = root.need("attribute_names").list().size
            val expressionCount = root.need("expression_names").list().size
            val implied = mapOf("dense" to listOf(numPoints, 3), "pose" to listOf(6), "identity" to listOf(identitySize),
                "expression" to listOf(expressionCount), "attributes" to listOf(attributeCount), "age" to listOf(1),
                "visibility" to listOf(numPoints))
            val ageColumn = if (schema == 1.0) root["age"]?.obj()?.need("column")?.num()?.toInt()?.also { column ->
                if (column != attributeCount) throw ModelSpecError("age.column must be $attributeCount (after the attribute logits), not $column")
            } else null
            val shapes = LinkedHashMap<String, List<Int>>()
            if (schema == 1.0) {
                OUTPUT_NAMES.forEach { shapes[it] = implied.getValue(it) }
                if (ageColumn != null) shapes["attributes"] = listOf(attributeCount + 1)  // age rides in the attributes tensor
            } else {
                if (root["age"] != null) throw ModelSpecError("age is not a field of manifest schema 2 (age is an output)")
                root.need("outputs").list().forEach { item ->
                    val o = item!!.obj()
                    val name = o.need("name") as? String ?: throw ModelSpecError("an output's name must be a string")
                    o.need("meaning")
                    val shape = o.need("shape").list().map { it!!.num().toInt() }
                    if (shape.isEmpty() || shape.any { it !in 0..1_000_000 } || shape.fold(1L) { a, b -> a * b } > 100_000_000L)
                        throw ModelSpecError("output '$name' has shape $shape: 1 to 4 sizes of 0..1000000, at most 100000000 values")
                    if (name in shapes) throw ModelSpecError("output '$name' is listed twice")
                    implied[name]?.let { if (it != shape) throw ModelSpecError("output '$name' must have shape $it, not $shape") }
                    shapes[name] = shape
                }
                OUTPUT_NAMES.forEach { if (it !in shapes) throw ModelSpecError("the manifest's outputs lack '$it'") }
            }
            shapes.keys.forEach { if (it !in outputs) throw ModelSpecError("the file entry names no tensor for output '$it'") }
            outputs.keys.forEach { if (it !in shapes) throw ModelSpecError("the file entry names a tensor for '$it', which the manifest does not list") }
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
                landmarkPoints = landmarkPoints.toTypedArray(),
                landmarkWeights = landmarkWeights.toTypedArray(),
                landmarkYaw = landmarkYaw,
                landmarkWeightsByYaw = weightsByYaw.map { it.toTypedArray() }.toTypedArray(),
                triangles = topology.need("triangles").list().flatMap { t -> t!!.list().map { it!!.num().toInt() } }.toIntArray(),
                identitySize = identitySize,
                expressionNames = root.need("expression_names").list().map { it as String },
                attributeNames = root.need("attribute_names").list().map { it as String },
                ageColumn = ageColumn,
                genderAttribute = (root["gender"]?.obj()?.need("attribute") as String?)?.also { name ->
                    if (name !in root.need("attribute_names").list()) throw ModelSpecError("gender.attribute '$name' is not an attribute")
                },
                identityMean = metric?.need("mean")?.list()?.map { it!!.num().toFloat() }?.toFloatArray()?.also {
                    if (it.size != identitySize) throw ModelSpecError("identity_metric.mean needs $identitySize numbers, not ${it.size}")
                },
                identityWhitening = metric?.need("whitening")?.list()?.flatMap { row ->
                    row!!.list().also { if (it.size != identitySize) throw ModelSpecError("identity_metric.whitening needs rows of $identitySize numbers") }
                }?.map { it!!.num().toFloat() }?.toFloatArray()?.also {
                    if (it.size != identitySize * identitySize) throw ModelSpecError("identity_metric.whitening needs $identitySize rows")
                },
                file = entry.need("path") as String,
                layout = (entry["layout"] as? String) ?: "NCHW",
                outputs = outputs,
                tensorSizes = shapes.mapValues { (_, shape) -> shape.fold(1) { a, b -> a * b } },
                inputQuantization = quantization(entry["input_quantization"]),
                outputQuantization = (entry["output_quantization"]?.obj() ?: emptyMap<String, Any>())
                    .entries.associate { (k, v) -> k as String to quantization(v)!! },
            )
        }
    }

    /** The 68 landmarks (x, y, z triples) of one face's dense points (x, y, z triples); the head's
     *  yaw (degrees) matters only for a definition given per yaw. */
    fun landmarks(dense: FloatArray, yawDegrees: Double = 0.0): FloatArray {
        val out = FloatArray(68 * 3)
        // the two anchors around this yaw and the share of the upper one (0 with no per-yaw weights)
        var lower = 0
        var share = 0f
        if (landmarkYaw.isNotEmpty()) {
            val yaw = yawDegrees.coerceIn(landmarkYaw.first(), landmarkYaw.last())
            while (lower < landmarkYaw.size - 2 && yaw > landmarkYaw[lower + 1]) lower++
            share = ((yaw - landmarkYaw[lower]) / (landmarkYaw[lower + 1] - landmarkYaw[lower])).toFloat()
        }
        for (i in 0 until 68) {
            val points = landmarkPoints[i]
            val weights = if (landmarkYaw.isEmpty()) landmarkWeights[i] else landmarkWeightsByYaw[lower][i]
            val upper = if (landmarkYaw.isEmpty()) weights else landmarkWeightsByYaw[lower + 1][i]
            for (c in 0 until 3) {
                var sum = 0f
                for (k in points.indices) sum += ((1f - share) * weights[k] + share * upper[k]) * dense[points[k] * 3 + c]
                out[i * 3 + c] = sum
            }
        }
        return out
    }

    /** The box (x1, y1, x2, y2) of a face's ICT landmark vertices, from its dense points (x, y, z
     *  triples): the box the crop rule was trained on, which tracking follows (edgeface
     *  Pipeline.face_box); aligned landmarks sit where annotators put them, a different box. */
    fun faceBox(dense: FloatArray): DoubleArray {
        var x1 = Double.MAX_VALUE; var y1 = Double.MAX_VALUE
        var x2 = -Double.MAX_VALUE; var y2 = -Double.MAX_VALUE
        for (v in landmarks68) {
            val x = dense[v * 3].toDouble(); val y = dense[v * 3 + 1].toDouble()
            x1 = minOf(x1, x); y1 = minOf(y1, y); x2 = maxOf(x2, x); y2 = maxOf(y2, y)
        }
        return doubleArrayOf(x1, y1, x2, y2)
    }

    /** The unit vector faces are compared by: [identity] centred and whitened by the manifest's
     *  identity_metric, or only scaled to unit length where it has none. */
    fun embedding(identity: FloatArray): FloatArray {
        val k = identity.size
        val e = DoubleArray(k) { identity[it].toDouble() }
        if (identityMean != null && identityWhitening != null) {
            val centred = DoubleArray(k) { e[it] - identityMean[it] }
            for (i in 0 until k) e[i] = (0 until k).sumOf { j -> identityWhitening[i * k + j] * centred[j] }
        }
        val length = Math.sqrt(e.sumOf { it * it })
        return FloatArray(k) { (if (length > 0) e[it] / length else e[it]).toFloat() }
    }

    /** Values per face of the file's output tensor [name]. */
    fun outputSize(name: String): Int = tensorSizes[name] ?: throw IllegalArgumentException("the pack has no output $name")
}

class ModelSpecError(message: String) : RuntimeException(message)
