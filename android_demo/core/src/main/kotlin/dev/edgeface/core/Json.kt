package dev.edgeface.core

/**
 * A small JSON reader for the model manifest (edgeface.json), so that this module needs nothing
 * beyond the Kotlin standard library on the JVM and on Android alike.
 * Objects become Map<String, Any?>, arrays List<Any?>, numbers Double, plus String, Boolean, null.
 */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.skipSpace()
        if (reader.pos != text.length) throw reader.error("trailing characters")
        return value
    }

    /** The JSON text of a value made of what [parse] returns (whole doubles are written without a fraction). */
    fun write(value: Any?): String = when (value) {
        null -> "null"
        is Boolean -> value.toString()
        is Double -> if (value == Math.floor(value) && kotlin.math.abs(value) < 1e15) value.toLong().toString() else value.toString()
        is Number -> value.toString()
        is String -> buildString {
            append('"')
            for (c in value) when {
                c == '"' -> append("\\\"")
                c == '\\' -> append("\\\\")
                c < ' ' -> append("\\u%04x".format(c.code))
                else -> append(c)
            }
            append('"')
        }
        is Map<*, *> -> value.entries.joinToString(",", "{", "}") { (k, v) -> write(k as String) + ":" + write(v) }
        is List<*> -> value.joinToString(",", "[", "]") { write(it) }
        else -> throw IllegalArgumentException("cannot write ${value::class.simpleName} as JSON")
    }

    private class Reader(val text: String) {
        var pos = 0

        fun error(what: String) = IllegalArgumentException("invalid JSON at character $pos: $what")

        fun skipSpace() {
            while (pos < text.length && text[pos].isWhitespace()) pos++
        }

        fun value(): Any? {
            skipSpace()
            if (pos >= text.length) throw error("unexpected end")
            return when (val c = text[pos]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c.isDigit()) number() else throw error("unexpected '$c'")
            }
        }

        fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, pos)) throw error("expected $word")
            pos += word.length
            return value
        }

        fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (text.getOrNull(pos) == '}') { pos++; return out }
            while (true) {
                skipSpace()
                if (text.getOrNull(pos) != '"') throw error("expected a key")
                val key = string()
                skipSpace()
                if (text.getOrNull(pos) != ':') throw error("expected ':'")
                pos++
                out[key] = value()
                skipSpace()
                when (text.getOrNull(pos)) {
                    ',' -> pos++
                    '}' -> { pos++; return out }
                    else -> throw error("expected ',' or '}'")
                }
            }
        }

        fun array(): List<Any?> {
            val out = ArrayList<Any?>()
            pos++
            skipSpace()
            if (text.getOrNull(pos) == ']') { pos++; return out }
            while (true) {
                out.add(value())
                skipSpace()
                when (text.getOrNull(pos)) {
                    ',' -> pos++
                    ']' -> { pos++; return out }
                    else -> throw error("expected ',' or ']'")
                }
            }
        }

        fun string(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (pos >= text.length) throw error("unterminated string")
                val c = text[pos++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        val e = text.getOrNull(pos++) ?: throw error("unterminated escape")
                        when (e) {
                            'n' -> out.append('\n'); 't' -> out.append('\t'); 'r' -> out.append('\r')
                            'b' -> out.append('\b'); 'f' -> out.append('\u000c')
                            'u' -> {
                                if (pos + 4 > text.length) throw error("short \\u escape")
                                out.append(text.substring(pos, pos + 4).toInt(16).toChar()); pos += 4
                            }
                            else -> out.append(e)
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        fun number(): Double {
            val start = pos
            while (pos < text.length && (text[pos].isDigit() || text[pos] in "+-.eE")) pos++
            return text.substring(start, pos).toDoubleOrNull() ?: throw error("bad number")
        }
    }
}
