plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.edgeface.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgeface.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    androidResources {
        // stored, not deflated, so that LiteRT can memory-map the models straight from the APK
        noCompress += "tflite"
    }

    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/edgeface-assets"))

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

// The app ships the Python package's own files, copied at build time rather than duplicated in git:
// the INT8 face model with its manifest, and the BlazeFace detector with its licence notice.
val copyEdgefaceAssets by tasks.registering(Copy::class) {
    val pkg = rootProject.file("../edgeface")
    from(pkg.resolve("models/default")) { include("model_int8.tflite", "edgeface.json") }
    from(pkg.resolve("runtime/detectors/assets")) { include("face_detection_short_range.tflite", "NOTICE") }
    into(layout.buildDirectory.dir("generated/edgeface-assets"))
}
tasks.named("preBuild") { dependsOn(copyEdgefaceAssets) }

dependencies {
    implementation(project(":core"))
    implementation(libs.activity)
    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)
    implementation(libs.litert)
}
