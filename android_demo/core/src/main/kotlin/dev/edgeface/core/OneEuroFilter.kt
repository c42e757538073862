package dev.edgeface.core

import kotlin.math.PI
import kotlin.math.abs

/**
 * The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on a vector, as edgeface.runtime.video does it:
 * a low cutoff (steady) while a value moves slowly, higher (responsive) as it speeds up,
 * cutoff = minCutoff + beta * |speed|. Hz for cutoffs, value units per second for speed.
 */
class OneEuroFilter(private val minCutoff: Double = 1.0, private val beta: Double = 0.05, private val dCutoff: Double = 1.0) {
    private var x: DoubleArray? = null
    private var dx: DoubleArray? = null
    private var t = 0.0

    fun reset() { x = null; dx = null }

    /** The filtered value of [value] at time [time] seconds; a time not after the last one restarts the filter. */
    fun filter(value: FloatArray, time: Double): FloatArray {
        val last = x
        if (last == null || time <= t || last.size != value.size) {
            x = DoubleArray(value.size) { value[it].toDouble() }
            dx = DoubleArray(value.size)
            t = time
            return value.copyOf()
        }
        val dt = time - t
        val speed = dx!!
        val aD = alpha(dCutoff, dt)
        for (i in value.indices) {
            val raw = (value[i] - last[i]) / dt
            speed[i] = aD * raw + (1 - aD) * speed[i]
            val a = alpha(minCutoff + beta * abs(speed[i]), dt)
            last[i] = a * value[i] + (1 - a) * last[i]
        }
        t = time
        return FloatArray(value.size) { last[it].toFloat() }
    }

    private fun alpha(cutoff: Double, dt: Double): Double {
        val tau = 1.0 / (2 * PI * cutoff)
        return 1.0 / (1.0 + tau / dt)
    }
}
