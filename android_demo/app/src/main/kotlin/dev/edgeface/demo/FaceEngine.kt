package dev.edgeface.demo

import android.content.Context
import android.os.SystemClock
import dev.edgeface.core.BlazeFace
import dev.edgeface.core.CropCutter
import dev.edgeface.core.Face
import dev.edgeface.core.FaceDecoder
import dev.edgeface.core.FaceTracker
import dev.edgeface.core.Geometry
import dev.edgeface.core.ModelSpec
import dev.edgeface.core.OneEuroFilter
import dev.edgeface.core.RgbImage
import dev.edgeface.core.TensorCodec
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * The two LiteRT interpreters (detector and face model) around the plain-Kotlin core: everything
 * here is Android or LiteRT API; every decision about pixels and numbers is in dev.edgeface.core,
 * tested on the JVM against the Python SDK.
 */
class FaceEngine(context: Context, threads: Int = 2) : AutoCloseable {
    val spec = ModelSpec.fromManifest(context.assets.open("edgeface.json").bufferedReader().readText(), "tflite", "int8")
    private val codec = TensorCodec(spec)
    private val model = Interpreter(map(context, spec.file), Interpreter.Options().setNumThreads(threads))
    private val detectorModel = Interpreter(map(context, "face_detection_short_range.tflite"), Interpreter.Options().setNumThreads(threads))
    private val blaze = BlazeFace()
    private val tracker = FaceTracker()
    private val smoothing = OneEuroFilter(minCutoff = 1.0, beta = 0.5)

    private val input = ByteBuffer.allocateDirect(spec.inputSize * spec.inputSize * 3).order(ByteOrder.nativeOrder())
    private val inputBytes = ByteArray(spec.inputSize * spec.inputSize * 3)
    private val outputIndex = spec.tensorSizes.keys.associateWith { model.getOutputIndex(spec.outputs.getValue(it)) }
    private val outputs = spec.tensorSizes.keys.associateWith {
        ByteBuffer.allocateDirect(spec.outputSize(it) * 4).order(ByteOrder.nativeOrder())
    }
    private val detectorInput = ByteBuffer.allocateDirect(blaze.size * blaze.size * 3 * 4).order(ByteOrder.nativeOrder())
    private val regressors = ByteBuffer.allocateDirect(blaze.anchors.size / 2 * 16 * 4).order(ByteOrder.nativeOrder())
    private val logits = ByteBuffer.allocateDirect(blaze.anchors.size / 2 * 4).order(ByteOrder.nativeOrder())

    init {
        require(model.getInputTensor(0).dataType().name == "INT8") {
            "${spec.file} should take int8 input (the manifest gives its quantization)"
        }
    }

    /** One upright frame in, the face (smoothed) or null, plus how long the network took. */
    fun process(frame: RgbImage, timestampNanos: Long): Pair<Face?, Long> {
        val start = SystemClock.elapsedRealtimeNanos()
        val box = tracker.cropBox() ?: detect(frame) ?: return null to 0L
        val crop = Geometry.squareCrop(box, spec.cropScale, spec.cropShiftY)
        input.rewind()
        codec.encodeInt8(CropCutter.cut(frame, crop, spec.inputSize), inputBytes)
        input.put(inputBytes)
        input.rewind()
        outputs.values.forEach { it.rewind() }
        model.runForMultipleInputsOutputs(arrayOf(input), outputIndex.entries.associate { (name, index) -> index to outputs.getValue(name) })
        val raw = outputs.mapValues { (_, buffer) -> buffer.rewind(); FloatArray(buffer.capacity() / 4).also { buffer.asFloatBuffer().get(it) } }
        val face = FaceDecoder.decode(raw, crop, spec)
        val elapsed = SystemClock.elapsedRealtimeNanos() - start
        if (!tracker.accept(spec.faceBox(face.dense), frame.width, frame.height)) {
            smoothing.reset()
            return null to elapsed
        }
        // smooth in the face's own units so that one setting suits near and far faces
        val size = crop.size.toFloat()
        val dense = smoothing.filter(FloatArray(face.dense.size) { face.dense[it] / size }, timestampNanos / 1e9)
        val smoothDense = FloatArray(dense.size) { dense[it] * size }
        val landmarks = spec.landmarks(smoothDense, face.pose.yaw)
        return Face(face.crop, smoothDense, landmarks, face.pose, face.identity, face.expression, face.attributes, face.visibility,
            face.age, face.gender, face.embedding, face.extra) to elapsed
    }

    private fun detect(frame: RgbImage): DoubleArray? {
        val letterbox = blaze.letterbox(frame)
        detectorInput.rewind()
        detectorInput.asFloatBuffer().put(blaze.encode(letterbox.canvas))
        regressors.rewind(); logits.rewind()
        detectorModel.runForMultipleInputsOutputs(arrayOf(detectorInput), mapOf(
            detectorModel.getOutputIndex("regressors") to regressors, detectorModel.getOutputIndex("classificators") to logits))
        val r = FloatArray(regressors.capacity() / 4).also { regressors.rewind(); regressors.asFloatBuffer().get(it) }
        val l = FloatArray(logits.capacity() / 4).also { logits.rewind(); logits.asFloatBuffer().get(it) }
        return blaze.decode(r, l, letterbox).firstOrNull()?.let(blaze::landmarkBox)
    }

    override fun close() {
        model.close()
        detectorModel.close()
    }

    private fun map(context: Context, asset: String): MappedByteBuffer =
        context.assets.openFd(asset).use { fd ->
            // works because the build stores .tflite assets uncompressed (app/build.gradle.kts)
            FileInputStream(fd.fileDescriptor).channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
        }
}
