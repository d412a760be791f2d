{
  "targets": [
    {
      "target_name": "mvd",
      "sources": [
        "<!@(node scripts/native-sources.mjs kernels --gyp)",
        "<!@(node scripts/native-sources.mjs cuda_absent --gyp)",
        "<!@(node scripts/native-sources.mjs binding --gyp)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!(node scripts/gyp-build-config.mjs)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v3", "-ffp-contract=fast", "-fno-math-errno", "-fopenmp", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "ldflags": ["-fopenmp"]
    }
  ]
}
