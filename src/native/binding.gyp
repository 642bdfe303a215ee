{
  "targets": [
    {
      "target_name": "gemm",
      "sources": [
        "addon.cc"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-O2",
        "-O0"
      ],
      "cflags": [
        "-O3",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fPIC"
      ],
      "cflags_cc": [
        "-O3",
        "-std=c++17",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-fPIC"
      ],
      "ldflags": [
        "-pthread"
      ],
      "libraries": [
        "-lpthread"
      ],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": [
          "-O3",
          "-std=c++17"
        ],
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "Optimization": 2,
          "AdditionalOptions": [
            "/std:c++17"
          ]
        }
      }
    }
  ]
}
