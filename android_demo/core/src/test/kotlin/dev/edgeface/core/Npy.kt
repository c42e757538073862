package dev.edgeface.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** A NumPy .npy array (the golden vectors' format), read into the JVM. */
class Npy(val shape: IntArray, val dtype: String, private val data: ByteBuffer) {
    val size = shape.fold(1) { a, b -> a * b }

    fun floats(): FloatArray = when (dtype) {
        "<f4" -> FloatArray(size) { data.getFloat(it * 4) }
        else -> throw IllegalStateException("expected float32, the file holds $dtype")
    }

    fun doubles(): DoubleArray = when (dtype) {
        "<f8" -> DoubleArray(size) { data.getDouble(it * 8) }
        "<f4" -> DoubleArray(size) { data.getFloat(it * 4).toDouble() }
        else -> throw IllegalStateException("expected a float array, the file holds $dtype")
    }

    fun ints(): IntArray = when (dtype) {
        "<i4" -> IntArray(size) { data.getInt(it * 4) }
        "<i8" -> IntArray(size) { data.getLong(it * 8).toInt() }
        else -> throw IllegalStateException("expected an integer array, the file holds $dtype")
    }

    fun bytes(): ByteArray = when (dtype) {
        "|u1", "|i1" -> ByteArray(size) { data.get(it) }
        else -> throw IllegalStateException("expected 8-bit values, the file holds $dtype")
    }

    companion object {
        fun read(file: File): Npy {
            val raw = file.readBytes()
            require(raw.size > 10 && raw[0] == 0x93.toByte() && String(raw, 1, 5) == "NUMPY") { "$file is not a .npy file" }
            val major = raw[6].toInt()
            val buffer = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
            val (headerLength, start) = if (major == 1) buffer.getShort(8).toInt() to 10 else buffer.getInt(8) to 12
            val header = String(raw, start, headerLength)
            val descr = Regex("'descr':\\s*'([^']+)'").find(header)!!.groupValues[1]
            require("'fortran_order': False" in header) { "$file is Fortran-ordered" }
            val shape = Regex("'shape':\\s*\\(([^)]*)\\)").find(header)!!.groupValues[1]
                .split(",").map { it.trim() }.filter { it.isNotEmpty() }.map { it.toInt() }.toIntArray()
            val body = ByteBuffer.wrap(raw, start + headerLength, raw.size - start - headerLength).slice().order(ByteOrder.LITTLE_ENDIAN)
            return Npy(shape, descr, body)
        }
    }
}
