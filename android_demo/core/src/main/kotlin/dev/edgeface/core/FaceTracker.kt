package dev.edgeface.core

/**
 * Follows one face across frames from its last face box (edgeface.runtime.video.Tracker's rule;
 * [ModelSpec.faceBox]): the next crop comes from it, and a result is dropped when the box leaves
 * the frame, shrinks below [minSize] pixels, or changes size by more than 2x between frames. The
 * detector is needed only when [cropBox] is null.
 */
class FaceTracker(private val minSize: Double = 16.0) {
    private var last: DoubleArray? = null

    fun reset() { last = null }

    /** The 68-landmark box to crop the next frame from, or null when the detector must run. */
    fun cropBox(): DoubleArray? = last?.copyOf()

    /** Take a frame's face box (x1, y1, x2, y2); false (and reset) when the face is lost. */
    fun accept(box: DoubleArray, width: Int, height: Int): Boolean {
        val side = maxOf(box[2] - box[0], box[3] - box[1])
        val cx = 0.5 * (box[0] + box[2]); val cy = 0.5 * (box[1] + box[3])
        val before = last
        val ratio = if (before == null) 1.0 else side / maxOf(maxOf(before[2] - before[0], before[3] - before[1]), 1e-6)
        val ok = cx >= 0 && cx < width && cy >= 0 && cy < height && side >= minSize && ratio in 0.5..2.0
        last = if (ok) box else null
        return ok
    }
}
