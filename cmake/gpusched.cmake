# Helpers in the spirit of absl_cc_library: every target states its sources and dependencies.
#
#   gpusched_cc_library(NAME common_quantity SRCS quantity.cc DEPS absl::status)
#   gpusched_cc_test(NAME quantity_test SRCS quantity_test.cc DEPS gpusched_common)
#   gpusched_cc_benchmark(NAME framework_benchmark SRCS framework_benchmark.cc DEPS ...)
#
# Libraries are named gpusched_<NAME>; include paths are rooted at the repository top, so
# headers are included as "common/quantity.h".

function(gpusched_cc_library)
  cmake_parse_arguments(GS "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(gpusched_${GS_NAME} ${GS_SRCS})
  target_include_directories(gpusched_${GS_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(gpusched_${GS_NAME} PUBLIC ${GS_DEPS})
endfunction()

function(gpusched_cc_test)
  if(NOT GPUSCHED_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(GS "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${GS_NAME} ${GS_SRCS})
  target_include_directories(${GS_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${GS_NAME} PRIVATE ${GS_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${GS_NAME} DISCOVERY_MODE PRE_TEST
                       PROPERTIES ENVIRONMENT "GPUSCHED_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

function(gpusched_cc_benchmark)
  if(NOT GPUSCHED_BUILD_BENCHMARKS)
    return()
  endif()
  cmake_parse_arguments(GS "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${GS_NAME} ${GS_SRCS})
  target_include_directories(${GS_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${GS_NAME} PRIVATE ${GS_DEPS} benchmark::benchmark)
endfunction()

# Protocol buffers (and gRPC services) as a library: generated headers are included as
# "agent/proto/agent.pb.h" / "agent/proto/agent.grpc.pb.h", i.e. by their path in the repository.
#
#   gpusched_proto_library(NAME agent_proto PROTOS agent.proto GRPC)
function(gpusched_proto_library)
  cmake_parse_arguments(GS "GRPC" "NAME" "PROTOS" ${ARGN})
  add_library(gpusched_${GS_NAME} ${GS_PROTOS})
  # Generated .pb.cc files define the same internal names: never one unity translation unit.
  set_target_properties(gpusched_${GS_NAME} PROPERTIES UNITY_BUILD OFF)
  target_link_libraries(gpusched_${GS_NAME} PUBLIC protobuf::libprotobuf)
  if(GS_GRPC)
    target_link_libraries(gpusched_${GS_NAME} PUBLIC gRPC::grpc++)
  endif()
  # protoc names each file relative to the calling folder (agent/: "proto/agent.proto"); the
  # output goes to the matching build folder, so "agent/proto/agent.pb.h" resolves from the build
  # root and the generated sources' own "proto/agent.pb.h" from the folder's build directory.
  target_include_directories(gpusched_${GS_NAME} PUBLIC ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR})
  # Generated code is not ours to warn about.
  target_compile_options(gpusched_${GS_NAME} PRIVATE -w)
  protobuf_generate(TARGET gpusched_${GS_NAME} LANGUAGE cpp
    PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
  if(GS_GRPC)
    protobuf_generate(TARGET gpusched_${GS_NAME} LANGUAGE grpc
      GENERATE_EXTENSIONS .grpc.pb.h .grpc.pb.cc
      PLUGIN "protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
      PROTOC_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
  endif()
endfunction()
