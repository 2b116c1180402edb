#if canImport(Glibc)
  import Glibc
#endif

/// Seconds on CLOCK_MONOTONIC (arbitrary origin): for deadlines and elapsed times, which must
/// not jump when the wall clock is set.
public enum MonotonicClock {
  public static func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }
}
