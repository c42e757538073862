package dev.edgeface.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File

/**
 * The pack schema (edgeface/runtime/pack.schema.json), the one definition of edgeface.json that the
 * Python loader checks too, held against [ModelSpec]: the shipped manifest follows it, and every
 * field it requires is one ModelSpec refuses to go without. The schema is found through the
 * EDGEFACE_PACK_SCHEMA environment variable or the edgeface.schema property (the pytest driver sets it).
 */
class SchemaTest {
    private val schemaFile: File? = (System.getProperty("edgeface.schema") ?: System.getenv("EDGEFACE_PACK_SCHEMA"))?.let(::File)
    private val goldens: File? = (System.getProperty("edgeface.tools.goldens") ?: System.getenv("EDGEFACE_GOLDENS"))?.let(::File)

    private fun schema(): Map<*, *> {
        if (System.getProperty("edgeface.tools.goldens.required") == "true") assertNotNull("EDGEFACE_PACK_SCHEMA is not set", schemaFile)
        assumeTrue("pack schema not given: set EDGEFACE_PACK_SCHEMA", schemaFile != null)
        return Json.parse(schemaFile!!.readText()) as Map<*, *>
    }

    private fun manifest(): Map<*, *> {
        assumeTrue("golden vectors not given: set EDGEFACE_GOLDENS", goldens != null)
        return Json.parse(File(goldens, "edgeface.json").readText()) as Map<*, *>
    }

    @Test
    fun theShippedManifestFollowsTheSchema() {
        val schema = schema()
        assertNull(PackSchema(schema).problem(manifest()))
    }

    @Test
    fun everyRequiredFieldIsOneModelSpecNeeds() {
        val schema = schema()
        val checker = PackSchema(schema)
        val base = manifest()
        val required = checker.requiredPaths(version = base["schema"] as Double)
        assertEquals("the schema's required fields", true, required.size >= 20)
        if (base["schema"] == 2.0) assertTrue("schema 2 requires the outputs list", listOf("outputs") in required)
        for (path in required) {
            val broken = without(base, path)
            assertNotNull("the schema should refuse a manifest without $path", checker.problem(broken))
            assertThrows("ModelSpec should refuse a manifest without $path", ModelSpecError::class.java) {
                ModelSpec.fromManifest(Json.write(broken), "tflite", "int8")
            }
        }
    }

    @Test
    fun wrongTypesAreRefusedByBoth() {
        val checker = PackSchema(schema())
        val base = manifest()
        for ((path, value) in listOf(listOf("input", "size") to "112", listOf("crop", "scale") to -1.0,
                                     listOf("schema") to 3.0, listOf("identity_size") to "many")) {
            val broken = replaced(base, path, value)
            assertNotNull("the schema should refuse $path = $value", checker.problem(broken))
            assertThrows("ModelSpec should refuse $path = $value", Exception::class.java) {
                ModelSpec.fromManifest(Json.write(broken), "tflite", "int8")
            }
        }
    }

    /** A copy of [root] without the field at [path]; "files[]" addresses every file entry. */
    private fun without(root: Any?, path: List<String>): Any? = edit(root, path) { it.remove(path.last()) }

    private fun replaced(root: Any?, path: List<String>, value: Any?): Any? = edit(root, path) { it[path.last()] = value }

    private fun edit(node: Any?, path: List<String>, change: (MutableMap<Any?, Any?>) -> Unit): Any? {
        val map = (node as Map<*, *>).toMutableMap<Any?, Any?>()
        val key = path.first()
        when {
            path.size == 1 -> change(map)
            key.endsWith("[]") -> map[key.dropLast(2)] = (map[key.dropLast(2)] as List<*>).map { edit(it, path.drop(1), change) }
            else -> map[key] = edit(map[key], path.drop(1), change)
        }
        return map
    }
}

/** The part of JSON Schema that pack.schema.json uses, as edgeface.runtime.pack.schema_problem reads it. */
class PackSchema(private val root: Map<*, *>) {
    private fun resolve(node: Map<*, *>): Map<*, *> =
        (node["\$ref"] as? String)?.let { ((root["\$defs"] as Map<*, *>)[it.substringAfterLast('/')] as Map<*, *>) } ?: node

    fun problem(data: Any?, schemaNode: Any? = root, where: String = "the manifest"): String? {
        if (schemaNode == false) return "$where is not a field of this manifest's schema version"
        val node = resolve(schemaNode as Map<*, *>)
        (node["if"] as? Map<*, *>)?.let { condition ->  // what applies depends on another field (the schema version)
            val branch = node[if (problem(data, condition, where) == null) "then" else "else"]
            if (branch != null) problem(data, branch, where)?.let { return it }
        }
        if ("const" in node && data != node["const"]) return "$where must be ${node["const"]}"
        (node["enum"] as? List<*>)?.let { if (data !in it) return "$where must be one of $it" }
        when (node["type"]) {
            "integer" -> if (data !is Double || data != Math.floor(data)) return "$where must be a whole number"
            "number" -> if (data !is Double) return "$where must be a number"
            "string" -> if (data !is String) return "$where must be a string"
            "array" -> if (data !is List<*>) return "$where must be an array"
            "object" -> if (data !is Map<*, *>) return "$where must be an object"
        }
        if (data is Double) {
            (node["minimum"] as? Double)?.let { if (data < it) return "$where is below $it" }
            (node["maximum"] as? Double)?.let { if (data > it) return "$where is above $it" }
            (node["exclusiveMinimum"] as? Double)?.let { if (data <= it) return "$where must exceed $it" }
        }
        if (data is String) {
            (node["minLength"] as? Double)?.let { if (data.length < it) return "$where is too short" }
            (node["pattern"] as? String)?.let { if (!Regex(it).containsMatchIn(data)) return "$where must match $it" }
        }
        if (data is List<*>) {
            (node["minItems"] as? Double)?.let { if (data.size < it) return "$where has too few items" }
            (node["maxItems"] as? Double)?.let { if (data.size > it) return "$where has too many items" }
            (node["items"] as? Map<*, *>)?.let { items -> data.forEachIndexed { i, v -> problem(v, items, "$where[$i]")?.let { return it } } }
        }
        if (data is Map<*, *>) {
            (node["required"] as? List<*>)?.forEach { if (it !in data) return "$where.$it is missing" }
            val properties = node["properties"] as? Map<*, *> ?: emptyMap<Any, Any>()
            val extra = node["additionalProperties"] as? Map<*, *>
            for ((k, v) in data) {
                val sub = properties[k] ?: extra ?: continue
                problem(v, sub, "$where.$k")?.let { return it }
            }
        }
        return null
    }

    /** Every required field, as a path from the top ("files[]" for each file entry), below required parents only;
     *  at the top, with the fields the manifest's schema [version] requires besides (the schema's if/then/else). */
    fun requiredPaths(node: Map<*, *> = root, prefix: List<String> = emptyList(), version: Double? = null): List<List<String>> {
        val resolved = resolve(node)
        val branch = version?.let { resolved[if (it == 1.0) "then" else "else"] as? Map<*, *> }
        val required = ((resolved["required"] as? List<*>).orEmpty() + (branch?.get("required") as? List<*>).orEmpty())
            .map { it as String }.ifEmpty { return emptyList() }
        val properties = resolved["properties"] as? Map<*, *> ?: emptyMap<Any, Any>()
        return required.flatMap { key ->
            val child = properties[key] as? Map<*, *>
            val here = prefix + key
            val items = child?.get("items") as? Map<*, *>
            listOf(here) + when {
                child == null -> emptyList()
                child["type"] == "array" && items != null -> requiredPaths(items, prefix + "$key[]")
                else -> requiredPaths(child, here)
            }
        }
    }
}
