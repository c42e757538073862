package dev.edgeface.demo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.widget.FrameLayout
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import dev.edgeface.core.RgbImage
import java.util.concurrent.Executors

/** Front camera in, 520 points, pose axes and top attributes out, with the frame rate on screen. */
class MainActivity : ComponentActivity() {
    private val analysis = Executors.newSingleThreadExecutor()
    private lateinit var preview: PreviewView
    private lateinit var overlay: OverlayView
    private var engine: FaceEngine? = null
    private var lastFrame = 0L
    private var fps = 0.0
    private var frameBytes: ByteArray? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        preview = PreviewView(this).apply { scaleType = PreviewView.ScaleType.FILL_CENTER }
        overlay = OverlayView(this)
        setContentView(FrameLayout(this).apply { addView(preview); addView(overlay) })
        if (checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) start()
        else requestPermissions(arrayOf(Manifest.permission.CAMERA), 1)
    }

    @Deprecated("the permission API of a plain ComponentActivity; the demo needs nothing newer")
    override fun onRequestPermissionsResult(requestCode: Int, permissions: Array<out String>, results: IntArray) {
        super.onRequestPermissionsResult(requestCode, permissions, results)
        if (results.firstOrNull() == PackageManager.PERMISSION_GRANTED) start()
        else setContentView(TextView(this).apply { setText(R.string.camera_denied); setPadding(48, 48, 48, 48) })
    }

    private fun start() {
        engine = FaceEngine(this)
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val shown = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val frames = ImageAnalysis.Builder()
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .build()
            frames.setAnalyzer(analysis, ::analyze)
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_FRONT_CAMERA, shown, frames)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun analyze(image: ImageProxy) {
        image.use {
            val plane = it.planes[0]
            // one copy buffer for the whole session (frames keep their size), not one per frame
            val size = plane.buffer.remaining()
            val bytes = frameBytes?.takeIf { b -> b.size == size } ?: ByteArray(size).also { b -> frameBytes = b }
            plane.buffer.get(bytes)
            // upright and mirrored like the front-camera preview, so points land where the user looks
            val frame = RgbImage.fromRgba(it.width, it.height, plane.rowStride, bytes, it.imageInfo.rotationDegrees, mirror = true)
            val (face, networkNanos) = engine!!.process(frame, it.imageInfo.timestamp)
            val now = it.imageInfo.timestamp
            if (lastFrame != 0L) fps = 0.9 * fps + 0.1 * (1e9 / (now - lastFrame))
            lastFrame = now
            overlay.show(face, frame.width, frame.height, "%.0f fps · %.1f ms".format(fps, networkNanos / 1e6))
        }
    }

    override fun onDestroy() {
        analysis.shutdown()
        engine?.close()
        super.onDestroy()
    }
}
