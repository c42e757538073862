// Plain Kotlin/JVM: no android.* here, so the same tests run on any JVM (tests/test_android_core.py).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // golden vectors: `edgeface goldens --out DIR`, then ./gradlew :core:test -Pgoldens=DIR
    (project.findProperty("goldens") as String?)?.let {
        systemProperty("edgeface.goldens", it)
        systemProperty("edgeface.goldens.required", "true")
    }
}
