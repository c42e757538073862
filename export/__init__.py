"""Model packs from trained networks: fp32 export (`fp32`), INT8 files and their accuracy gate
(`quantize`), and the 68-landmark definition fitted to a benchmark's annotators (`landmarks`).

Installed as `edgeface.export` (pyproject `package-dir`); needs the `train` extra."""
