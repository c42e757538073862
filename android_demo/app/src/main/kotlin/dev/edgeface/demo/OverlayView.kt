package dev.edgeface.demo

import android.content.Context
import android.graphics.Canvas
import android.graphics.Paint
import android.view.View
import dev.edgeface.core.Face

/**
 * Draws the 520 points, the pose axes and the top attributes over the camera preview, with the
 * frame rate and network time. Image pixels map to the view as the preview fills it (centre crop).
 */
class OverlayView(context: Context) : View(context) {
    private var face: Face? = null
    private var imageWidth = 1
    private var imageHeight = 1
    private var status = ""

    private val points = Paint().apply { color = context.getColor(R.color.points); strokeWidth = 4f; strokeCap = Paint.Cap.ROUND }
    private val axes = listOf(R.color.axis_x, R.color.axis_y, R.color.axis_z).map { c ->
        Paint().apply { color = context.getColor(c); strokeWidth = 8f; isAntiAlias = true }
    }
    private val text = Paint().apply { color = context.getColor(R.color.text); textSize = 44f; isAntiAlias = true; setShadowLayer(4f, 0f, 0f, 0xFF000000.toInt()) }

    fun show(face: Face?, width: Int, height: Int, status: String) {
        this.face = face
        imageWidth = width
        imageHeight = height
        this.status = status
        postInvalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val scale = maxOf(width.toFloat() / imageWidth, height.toFloat() / imageHeight)
        val dx = (width - imageWidth * scale) / 2
        val dy = (height - imageHeight * scale) / 2
        var line = 60f
        canvas.drawText(status, 24f, line, text)
        val f = face
        if (f == null) {
            canvas.drawText(context.getString(R.string.no_face), 24f, line + 56f, text)
            return
        }
        val xy = FloatArray(f.dense.size / 3 * 2) { i -> f.dense[(i / 2) * 3 + i % 2] * scale + if (i % 2 == 0) dx else dy }
        canvas.drawPoints(xy, points)
        // pose axes: the rotation's columns are the head's x, y, z; image y runs down
        val ox = f.pose.translation[0] * scale + dx
        val oy = f.pose.translation[1] * scale + dy
        val length = (f.crop.size * scale * 0.3).toFloat()
        for (axis in 0 until 3) {
            val ax = f.pose.rotation[axis].toFloat()
            val ay = -f.pose.rotation[3 + axis].toFloat()
            canvas.drawLine(ox, oy, ox + ax * length, oy + ay * length, axes[axis])
        }
        line += 56f
        canvas.drawText("yaw %.0f°  pitch %.0f°  roll %.0f°".format(f.pose.yaw, f.pose.pitch, f.pose.roll), 24f, line, text)
        for ((name, p) in f.topAttributes(3)) {
            line += 52f
            canvas.drawText("%s %.0f%%".format(name.replace('_', ' '), p * 100), 24f, line, text)
        }
    }
}
