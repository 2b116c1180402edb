extension Array {
  /// Binary search over an array partitioned by `belongsInSecondPartition` (false for a prefix,
  /// true for the rest): the index of the first element of the second part, or `count`.
  /// Sorted lookups ("last entry at or below this address") are `partitioningIndex { $0 > x } - 1`.
  @inline(__always)
  func partitioningIndex(where belongsInSecondPartition: (Element) -> Bool) -> Int {
    var lo = 0
    var hi = count
    while lo < hi {
      let mid = (lo + hi) / 2
      if belongsInSecondPartition(self[mid]) { hi = mid } else { lo = mid + 1 }
    }
    return lo
  }
}
