# The engine's compute side (kernels, thread pool, Llama model), included from
# CMakeLists.txt so the two halves of the engine can change independently.
target_sources(aperture_engine PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/kernels/cpu_features.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/quantize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/quantize_k.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/packed_matrix.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_scalar.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_bf16_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_scalar.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/ops.cpp
  ${CMAKE_CURRENT_LIST_DIR}/threading/thread_pool.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/architecture.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/llama_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/hooks.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/sequence.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/llama_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/runner.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/test_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/test_model_vocab.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model/benchmark.cpp
)
# The ISA-specific files select their instruction sets with target pragmas.
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_bf16_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx512.cpp
  PROPERTIES COMPILE_OPTIONS "-O3;-Wno-uninitialized;$<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>")
# Clang does not read GCC's target pragmas: under clang (the sanitizer and
# fuzz builds) the same instruction sets are given as flags for those files.
set(APERTURE_CLANG_AVX2 "$<$<CXX_COMPILER_ID:Clang>:-mavx2>;$<$<CXX_COMPILER_ID:Clang>:-mfma>"
    "$<$<CXX_COMPILER_ID:Clang>:-mf16c>")
set(APERTURE_CLANG_AVX512 ${APERTURE_CLANG_AVX2} "$<$<CXX_COMPILER_ID:Clang>:-mavx512f>"
    "$<$<CXX_COMPILER_ID:Clang>:-mavx512bw>" "$<$<CXX_COMPILER_ID:Clang>:-mavx512vl>")
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx2.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx2.cpp
  APPEND PROPERTIES COMPILE_OPTIONS "${APERTURE_CLANG_AVX2}")
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_avx512.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_k_avx512.cpp
  APPEND PROPERTIES COMPILE_OPTIONS "${APERTURE_CLANG_AVX512};$<$<CXX_COMPILER_ID:Clang>:-mavx512vnni>")
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_bf16_avx512.cpp
  APPEND PROPERTIES COMPILE_OPTIONS "${APERTURE_CLANG_AVX512};$<$<CXX_COMPILER_ID:Clang>:-mavx512bf16>")

aperture_test(engine_kernels_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/kernels/quantize_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/kernels/matmul_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/kernels/ops_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/threading/thread_pool_test.cpp
  LIBS aperture_engine)

aperture_test(engine_model_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/model/reference_forward_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/runner_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/hooks_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/hook_sites_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/generation_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/architecture_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model/test_model_test.cpp
  LIBS aperture_engine)

# Alone in its binary: each test forks a child that must start no thread
# before it measures (memory_test.cpp).
aperture_test(engine_memory_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model/memory_test.cpp
  LIBS aperture_engine)
