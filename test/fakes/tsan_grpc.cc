// Linked into every test that runs gRPC, so their ThreadSanitizer runs check our code only.
// Debian's gRPC and Abseil are not built with ThreadSanitizer: their synchronization (absl::Mutex,
// their own atomics) is invisible to it, so their internal threads' memmove/malloc calls look like
// races (e.g. in absl's GraphCycles), and so does data they hand from one thread to another (a
// call's status message). Ignore what those libraries do internally and that one hand-over; our
// code, the book, the plugin and the fake kubelet stay checked (they lock with common/mutex.h,
// which TSan sees).
#if defined(__SANITIZE_THREAD__)
#define GPUSCHED_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GPUSCHED_TSAN 1
#endif
#endif
#ifdef GPUSCHED_TSAN
extern "C" const char* __tsan_default_suppressions() {
  // Each entry must name exactly one loaded library (no wildcards matching several).
  return
      "called_from_lib:libabsl_bad_optional_access.so\n"
      "called_from_lib:libabsl_bad_variant_access.so\n"
      "called_from_lib:libabsl_base.so\n"
      "called_from_lib:libabsl_city.so\n"
      "called_from_lib:libabsl_civil_time.so\n"
      "called_from_lib:libabsl_cord.so\n"
      "called_from_lib:libabsl_cord_internal.so\n"
      "called_from_lib:libabsl_cordz_functions.so\n"
      "called_from_lib:libabsl_cordz_handle.so\n"
      "called_from_lib:libabsl_cordz_info.so\n"
      "called_from_lib:libabsl_debugging_internal.so\n"
      "called_from_lib:libabsl_demangle_internal.so\n"
      "called_from_lib:libabsl_exponential_biased.so\n"
      "called_from_lib:libabsl_graphcycles_internal.so\n"
      "called_from_lib:libabsl_hash.so\n"
      "called_from_lib:libabsl_hashtablez_sampler.so\n"
      "called_from_lib:libabsl_int128.so\n"
      "called_from_lib:libabsl_log_severity.so\n"
      "called_from_lib:libabsl_low_level_hash.so\n"
      "called_from_lib:libabsl_malloc_internal.so\n"
      "called_from_lib:libabsl_random_distributions.so\n"
      "called_from_lib:libabsl_random_internal_platform.so\n"
      "called_from_lib:libabsl_random_internal_pool_urbg.so\n"
      "called_from_lib:libabsl_random_internal_randen.so\n"
      "called_from_lib:libabsl_random_internal_randen_hwaes.so\n"
      "called_from_lib:libabsl_random_internal_randen_hwaes_impl.so\n"
      "called_from_lib:libabsl_random_internal_randen_slow.so\n"
      "called_from_lib:libabsl_random_internal_seed_material.so\n"
      "called_from_lib:libabsl_random_seed_gen_exception.so\n"
      "called_from_lib:libabsl_random_seed_sequences.so\n"
      "called_from_lib:libabsl_raw_hash_set.so\n"
      "called_from_lib:libabsl_raw_logging_internal.so\n"
      "called_from_lib:libabsl_spinlock_wait.so\n"
      "called_from_lib:libabsl_stacktrace.so\n"
      "called_from_lib:libabsl_status.so\n"
      "called_from_lib:libabsl_statusor.so\n"
      "called_from_lib:libabsl_str_format_internal.so\n"
      "called_from_lib:libabsl_strerror.so\n"
      "called_from_lib:libabsl_strings.so\n"
      "called_from_lib:libabsl_strings_internal.so\n"
      "called_from_lib:libabsl_symbolize.so\n"
      "called_from_lib:libabsl_synchronization.so\n"
      "called_from_lib:libabsl_throw_delegate.so\n"
      "called_from_lib:libabsl_time.so\n"
      "called_from_lib:libabsl_time_zone.so\n"
      "called_from_lib:libaddress_sorting.so\n"
      "called_from_lib:libcares.so\n"
      "called_from_lib:libcrypto.so.3\n"
      "called_from_lib:libssl.so.3\n"
      "called_from_lib:libgpr.so\n"
      "called_from_lib:libgrpc++.so\n"
      "called_from_lib:libgrpc.so\n"
      "called_from_lib:libre2.so\n"
      "called_from_lib:libupb.so\n"
      // The client copying a call's status message that a server thread wrote, handed over
      // through gRPC's (invisible) completion queue.
      "race:grpc::internal::CallOpClientRecvStatus::FinishOp\n"
      // The callback API's tags and reactors: set on the calling thread, run on a gRPC thread
      // after gRPC's own (invisible) hand-off.
      "race:grpc::internal::CallbackWithSuccessTag\n"
      "race:grpc::internal::ClientCallbackReaderImpl\n"
      "race:grpc::internal::CallbackUnaryCallImpl\n"
      // gRPC's thread pool queues closures (absl::AnyInvocable, inlined into our binary).
      "race:grpc_event_engine::experimental::ThreadPool\n";
}
#endif
